"""atlas-kms as a component package: the schema, the provider protocol, and Construct = the program.

No Pulumi CLI: the plugin is started as the engine starts it (`python <plugin dir> <engine address>`,
its gRPC port read from the first line it prints), and Construct runs under the mock runtime.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pulumi
import pytest
import yaml
from google.protobuf import empty_pb2
from pulumi.runtime.proto import engine_pb2_grpc, provider_pb2, provider_pb2_grpc

from components.package import PACKAGE, VERSION, schema
from config.args import camel
from config.stackfile import read_stack_config
from offline.harness import ROOT, ProgramRun, run_program
from offline.model import reveal

TOKEN = "atlas-kms:index:AtlasKmsEncryption"
PLUGIN = ROOT / "provider"
STACKS = ROOT / "samples" / "stacks"
MODES = {
    "same-account": {},
    "existing-key": {},
    "cross-account": {},
    "foreign-key": {},
    "foreign-key-managed": {"atlas-kms:keyAccount": {"assumeRoleArn": "arn:aws:iam::444455556666:role/kms-admin",
                                                     "manageKeyPolicy": True}},
}


# 1. The schema ---------------------------------------------------------------------------------


def test_the_checked_in_schema_is_what_the_code_infers() -> None:
    checked_in = json.loads((PLUGIN / "schema.json").read_text())
    assert checked_in == schema(), "regenerate: venv/bin/python -m components.package > provider/schema.json"


def _described(prop: dict[str, Any], where: str) -> None:
    assert prop.get("description"), f"{where} has no description"
    assert "type" in prop or "$ref" in prop, f"{where} has no type"


def test_the_schema_names_the_package_and_types_and_describes_every_input_and_output() -> None:
    s = schema()
    assert (s["name"], s["version"]) == (PACKAGE, VERSION) == ("atlas-kms", VERSION)
    resource = s["resources"][TOKEN]
    assert resource["isComponent"] is True and resource["description"]
    assert resource["requiredInputs"] == ["projectId"]
    for name, prop in resource["inputProperties"].items():
        _described(prop, f"input {name}")
    for name, prop in resource["properties"].items():
        _described(prop, f"output {name}")
    for token, typ in s["types"].items():
        assert typ["description"], token
        for name, prop in typ["properties"].items():
            _described(prop, f"{token}.{name}")
    assert set(resource["properties"]) == {"keyArn", "keyRegion", "roleArn", "atlasRoleId", "allowedCidrs",
                                           "encryptionValid", "mode", "keyPolicyStatementForOwner", "retainedKeyArns",
                                           "privateEndpoints", "keyPolicyStatementsForOwner"}
    assert resource["inputProperties"]["projectId"].get("plain") is not True  # may come from a mongodbatlas.Project
    assert resource["properties"]["allowedCidrs"]["type"] == "array"
    assert resource["properties"]["encryptionValid"]["type"] == "boolean"


def test_the_schema_inputs_are_the_stack_settings_under_the_same_names() -> None:
    from config.settings import ALERTS_KEYS, KEY_ACCOUNT_KEYS, KNOWN_KEYS, SOURCE_IPS_KEYS

    s = schema()
    inputs = s["resources"][TOKEN]["inputProperties"]
    assert set(KNOWN_KEYS) <= set(inputs)
    assert set(KEY_ACCOUNT_KEYS) == set(s["types"]["atlas-kms:index:KeyAccountArgs"]["properties"])
    assert set(SOURCE_IPS_KEYS) == set(s["types"]["atlas-kms:index:SourceIpsArgs"]["properties"])
    assert set(ALERTS_KEYS) == set(s["types"]["atlas-kms:index:AlertsArgs"]["properties"])


# 2. The provider protocol, as the engine calls it -----------------------------------------------


class _Engine(engine_pb2_grpc.EngineServicer):
    def Log(self, request: Any, context: Any) -> Any:  # noqa: N802 (the protocol's name)
        return empty_pb2.Empty()


@pytest.fixture()
def plugin() -> Iterator[provider_pb2_grpc.ResourceProviderStub]:
    engine = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    engine_pb2_grpc.add_EngineServicer_to_server(_Engine(), engine)
    port = engine.add_insecure_port("127.0.0.1:0")
    engine.start()
    # The engine runs `<plugin dir>/venv/bin/python <plugin dir> <engine address>` in the plugin dir;
    # this test's interpreter stands in for the plugin's virtualenv.
    proc = subprocess.Popen([sys.executable, str(PLUGIN), f"127.0.0.1:{port}"], cwd=PLUGIN,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.strip().isdigit(), f"the plugin printed {line!r}, not its port: {proc.stderr.read() if proc.stderr else ''}"
        channel = grpc.insecure_channel(f"127.0.0.1:{int(line)}")
        grpc.channel_ready_future(channel).result(timeout=30)
        yield provider_pb2_grpc.ResourceProviderStub(channel)
        channel.close()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        engine.stop(grace=None)


def test_the_plugin_serves_its_schema_over_grpc(plugin: provider_pb2_grpc.ResourceProviderStub) -> None:
    assert plugin.GetPluginInfo(empty_pb2.Empty()).version == VERSION
    served = json.loads(plugin.GetSchema(provider_pb2.GetSchemaRequest(version=0)).schema)
    assert served == json.loads((PLUGIN / "schema.json").read_text())


def test_the_plugin_folder_is_laid_out_for_pulumi_package_add() -> None:
    plugin_yaml = yaml.safe_load((PLUGIN / "PulumiPlugin.yaml").read_text())
    assert plugin_yaml["runtime"]["name"] == "python"
    assert (PLUGIN / "__main__.py").exists()
    assert "-r ../requirements.txt" in (PLUGIN / "requirements.txt").read_text()


# 3. Construct through the provider path = the Python program ------------------------------------


def engine_inputs(config: dict[str, Any]) -> dict[str, Any]:
    """A stack's atlas-kms settings as the engine sends them to Construct: plain values, camelCase
    names, typed as the schema says ("all" is the list ["all"])."""
    inputs: dict[str, Any] = {}
    for key, value in config.items():
        if not key.startswith("atlas-kms:"):
            continue
        if isinstance(value, str) and value[:1] in "{[":
            value = json.loads(value)
        if isinstance(value, dict):
            value = {k: [v] if k in ("controlPlane", "clusters") and v == "all" else v for k, v in value.items()}
        inputs[key.split(":", 1)[1]] = value
    return inputs


def stack_config(mode: str) -> dict[str, Any]:
    stack = "foreign-key" if mode == "foreign-key-managed" else mode
    config = read_stack_config(STACKS / f"Pulumi.{stack}.yaml")
    for key, value in MODES[mode].items():
        config[key] = json.dumps(value)
    return config


def construct(config: dict[str, Any], stack: str) -> ProgramRun:
    from components.package import component_provider

    def program() -> None:
        result = component_provider().construct("atlas-kms", TOKEN, engine_inputs(config), pulumi.ResourceOptions())
        for key, value in result.state.items():
            pulumi.export(key, value)

    return run_program(config, stack=stack, program=program)


def plan(run: ProgramRun) -> list[tuple[str, str, str]]:
    return sorted((r.type, r.name, json.dumps(reveal(r.inputs), sort_keys=True)) for r in run.registrations)


@pytest.mark.parametrize("mode", MODES)
def test_construct_registers_exactly_what_the_python_program_registers(mode: str) -> None:
    config = stack_config(mode)
    program, package = run_program(config, stack=mode), construct(config, mode)
    assert plan(package) == plan(program)
    for key, value in program.outputs.items():
        assert package.outputs[key] == value, key


@pytest.mark.parametrize(("setting", "value"), [
    ("atlas-kms:projectId", "nope"),
    ("atlas-kms:keyArn", "1234abcd-12ab-34cd-56ef-1234567890ab"),
    ("atlas-kms:sourceIps", {"extraCidrs": ["0.0.0.0/0"]}),
    ("atlas-kms:keyAccount", {"assumeRoleArn": "arn:aws:iam::111122223333:user/bob"}),
])
def test_bad_inputs_fail_with_the_same_messages_as_the_stack_config(setting: str, value: Any) -> None:
    config = stack_config("same-account")
    config[setting] = value if isinstance(value, str) else json.dumps(value)
    with pytest.raises(Exception) as by_program:
        run_program(config, stack="same-account")
    with pytest.raises(Exception) as by_package:
        construct(config, "same-account")
    assert str(by_package.value) == str(by_program.value)
    assert f"{setting}" in str(by_package.value)


def test_a_project_id_from_another_resource_is_waited_for_and_keeps_the_dependency() -> None:
    config = stack_config("same-account")

    def program() -> None:
        from components.atlas_kms import AtlasKmsEncryption

        project = pulumi.CustomResource("mongodbatlas:index/project:Project", "orders", {"name": "orders"})
        project_id = pulumi.Output.from_input(project.id).apply(lambda _: "6f1e2d3c4b5a697887766554")
        AtlasKmsEncryption("atlas-kms", {"project_id": project_id})

    run = run_program(config, stack="same-account", program=program)
    setup = run.one("mongodbatlas:index/cloudProviderAccessSetup:CloudProviderAccessSetup")
    assert setup.inputs["projectId"] == "6f1e2d3c4b5a697887766554"
    project = run.one("mongodbatlas:index/project:Project")
    assert project.urn in setup.dependencies


# 4. The examples use the schema's names ---------------------------------------------------------


def test_the_yaml_example_uses_only_schema_inputs_and_the_same_settings_as_the_sample_stack() -> None:
    example = yaml.safe_load((ROOT / "examples" / "yaml" / "Pulumi.yaml").read_text())
    [resource] = [r for r in example["resources"].values() if r["type"] == TOKEN]
    inputs = schema()["resources"][TOKEN]["inputProperties"]
    assert set(resource["properties"]) <= set(inputs)
    sample = engine_inputs(read_stack_config(STACKS / "Pulumi.same-account.yaml"))
    assert resource["properties"] == sample
    assert example["packages"]["atlas-kms"]


def test_the_typescript_example_uses_only_schema_inputs() -> None:
    source = (ROOT / "examples" / "typescript" / "index.ts").read_text()
    inputs = schema()["resources"][TOKEN]["inputProperties"]
    for name in ("projectId", "sourceIps", "controlPlane", "clusters", "includeFuture", "extraCidrs"):
        assert f"{name}:" in source
    assert {camel("project_id"), camel("source_ips")} <= set(inputs)
    assert "new atlaskms.AtlasKmsEncryption(" in source
    assert "encryption.keyArn" in source and "encryption.encryptionValid" in source
    assert (ROOT / "examples" / "typescript" / "Pulumi.yaml").exists()


def test_readme_tells_how_to_use_it_from_any_language() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "## Use it from any language" in readme
    assert "pulumi package add" in readme and "examples/typescript" in readme and "examples/yaml" in readme


@pytest.mark.parametrize("path", [Path("examples/yaml/Pulumi.yaml"), Path("examples/typescript/Pulumi.yaml")])
def test_example_projects_declare_the_package(path: Path) -> None:
    project = yaml.safe_load((ROOT / path).read_text())
    assert project["runtime"] in ("yaml", "nodejs")


def test_in_a_preview_that_creates_the_project_the_plan_uses_the_control_plane_only() -> None:
    config = stack_config("same-account")

    def program() -> None:
        from components.atlas_kms import AtlasKmsEncryption

        # In a preview a new project's id is unknown: the component cannot wait for it.
        project = pulumi.CustomResource("mongodbatlas:index/project:Project", "orders", {"name": "orders"})
        AtlasKmsEncryption("atlas-kms", {"project_id": project.id})  # type: ignore[typeddict-item]

    run = run_program(config, stack="same-account", program=program, preview=True)
    assert any("projectId is not known yet" in line for line in run.logs)
    calls = [token for token, _ in run.calls]
    assert "mongodbatlas:index/getProjectIpAddresses:getProjectIpAddresses" not in calls
    assert run.of_type("mongodbatlas:index/encryptionAtRest:EncryptionAtRest")


def test_optional_settings_given_as_none_mean_not_set() -> None:
    def program() -> None:
        from components.atlas_kms import AtlasKmsEncryption

        AtlasKmsEncryption("atlas-kms", {"project_id": "6f1e2d3c4b5a697887766554", "alerts": None,  # type: ignore[typeddict-item]
                                         "source_ips": None, "key_account": None})  # type: ignore[typeddict-item]

    run = run_program(stack_config("same-account"), stack="same-account", program=program)
    assert len(run.of_type("mongodbatlas:index/alertConfiguration:AlertConfiguration")) == 4
