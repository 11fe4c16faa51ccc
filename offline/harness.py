"""Run the real program under Pulumi's mock runtime, against bundled Atlas answers.

Used by the offline preview (`make preview`), the tests and the benchmarks. The
mocks answer like the engine does: lookups and resource states use the providers'
camelCase property names, and computed outputs (ARNs, ids) are returned explicitly.
"""

from __future__ import annotations

import hashlib
import json
import runpy
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.settings import SETTINGS, set_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"

ROLE_ACCOUNT = "111122223333"
# Atlas's own AWS account, the principal of every trust policy Atlas asks for.
ATLAS_AWS_ACCOUNT_ARN = "arn:aws:iam::536727724300:root"

PROVIDER_TYPES = {"pulumi:providers:aws"}


def _api_cluster_to_engine(cluster: Mapping[str, Any]) -> dict[str, Any]:
    """Atlas API field names -> the mongodbatlas provider's engine names."""
    return {
        "clusterName": cluster["clusterName"],
        "inbounds": list(cluster.get("inbound", [])),
        "outbounds": list(cluster.get("outbound", [])),
        "futureInbounds": list(cluster.get("futureInbound", [])),
        "futureOutbounds": list(cluster.get("futureOutbound", [])),
    }


@dataclass
class World:
    """What Atlas and AWS answer: the Atlas API's own JSON shapes, plus the caller."""

    control_plane: dict[str, Any]
    project: dict[str, Any]
    account: str = ROLE_ACCOUNT
    partition: str = "aws"

    @classmethod
    def sample(cls) -> World:
        return cls(
            control_plane=json.loads((SAMPLES / "atlas" / "control-plane-ip-addresses.json").read_text()),
            project=json.loads((SAMPLES / "atlas" / "project-ip-addresses.json").read_text()),
        )

    def control_plane_answer(self) -> dict[str, Any]:
        def strip(section: Mapping[str, Any] | None) -> dict[str, Any]:
            section = section or {}
            return {cloud: dict(section.get(cloud, {})) for cloud in ("aws", "azure", "gcp")}

        return {"inbound": strip(self.control_plane.get("inbound")), "outbound": strip(self.control_plane.get("outbound"))}

    def project_answer(self, project_id: str) -> dict[str, Any]:
        clusters = (self.project.get("services") or {}).get("clusters") or []
        return {"projectId": project_id, "services": {"clusters": [_api_cluster_to_engine(c) for c in clusters]}}


@dataclass
class Registration:
    """One resource as the engine saw it: options included, which MockResourceArgs omits."""

    type: str
    name: str
    urn: str
    parent: str
    provider: str
    protect: bool
    retain_on_delete: bool
    dependencies: list[str]
    inputs: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)


def _stable_id(*parts: str, length: int = 24) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


class AtlasKmsMocks(pulumi.runtime.Mocks):
    def __init__(self, world: World) -> None:
        self.world = world
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.provider_accounts: dict[str, str] = {}

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        self.calls.append((args.token, dict(args.args)))
        if args.token == "mongodbatlas:index/getControlPlaneIpAddresses:getControlPlaneIpAddresses":
            return self.world.control_plane_answer()
        if args.token == "mongodbatlas:index/getProjectIpAddresses:getProjectIpAddresses":
            return self.world.project_answer(args.args["projectId"])
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            w = self.world
            return {
                "accountId": w.account,
                "arn": f"arn:{w.partition}:sts::{w.account}:assumed-role/platform-deployer/ci",
                "userId": "AROAEXAMPLEID:ci",
                "id": w.account,
            }
        raise NotImplementedError(f"no mock for invoke {args.token}")

    def _account_for(self, provider_ref: str) -> str:
        """Provider references are `<urn>::<id>`; the URN ends with the provider's name."""
        name = provider_ref.rsplit("::", 1)[0].split("::")[-1] if provider_ref else ""
        return self.provider_accounts.get(name, self.world.account)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        name, typ, p = args.name, args.typ, self.world.partition
        account = self._account_for(args.provider or "")
        if typ == "pulumi:providers:aws":
            roles = inputs.get("assumeRoles") or []
            if isinstance(roles, str):  # provider inputs reach the engine JSON-encoded
                roles = json.loads(roles)
            if roles:
                self.provider_accounts[name] = roles[0]["roleArn"].split(":")[4]
            return f"{name}-id", inputs
        if typ == "aws:kms/key:Key":
            key_id = str(uuid.UUID(_stable_id(name, "key", length=32)))
            region = inputs.get("region", "us-east-1")
            return key_id, {**inputs, "arn": f"arn:{p}:kms:{region}:{account}:key/{key_id}", "keyId": key_id}
        if typ == "aws:iam/role:Role":
            role_name = f"{name}-{_stable_id(name, length=7)}"
            return role_name, {**inputs, "name": role_name, "arn": f"arn:{p}:iam::{account}:role/{role_name}",
                               "uniqueId": "AROA" + _stable_id(name, length=17).upper()}
        if typ == "aws:iam/policy:Policy":
            policy_name = f"{name}-{_stable_id(name, length=7)}"
            return f"arn:{p}:iam::{account}:policy/{policy_name}", {
                **inputs, "name": policy_name, "arn": f"arn:{p}:iam::{account}:policy/{policy_name}"}
        if typ == "mongodbatlas:index/cloudProviderAccessSetup:CloudProviderAccessSetup":
            role_id = _stable_id(name, "atlas-role")
            return role_id, {**inputs, "roleId": role_id, "awsConfigs": [{
                "atlasAwsAccountArn": ATLAS_AWS_ACCOUNT_ARN,
                "atlasAssumedRoleExternalId": str(uuid.UUID(_stable_id(name, "external-id", length=32))),
            }]}
        if typ == "mongodbatlas:index/cloudProviderAccessAuthorization:CloudProviderAccessAuthorization":
            return _stable_id(name, "auth"), {**inputs, "authorizedDate": "2026-11-28T00:00:00Z"}
        if typ == "mongodbatlas:index/encryptionAtRest:EncryptionAtRest":
            kms = dict(inputs.get("awsKmsConfig") or {})
            return inputs.get("projectId", name), {**inputs, "awsKmsConfig": {**kms, "valid": True}}
        return f"{name}-id", inputs


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Keeps each registration's options (parent, provider, protect, dependencies)."""

    def __init__(self, mocks: AtlasKmsMocks, sink: list[Registration] | None = None) -> None:
        super().__init__(mocks)
        # A caller-owned list, so that registrations stay visible when the program raises.
        self.registrations: list[Registration] = sink if sink is not None else []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the engine's RPC name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            from pulumi.runtime import rpc

            inputs = rpc.deserialize_properties(request.object)
            state = self.resources.get(response.urn)
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    provider=request.provider,
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    dependencies=list(request.dependencies),
                    inputs=dict(inputs),
                    state=dict(state.state) if state else {},
                )
            )
        return response


@dataclass
class ProgramRun:
    outputs: dict[str, Any]
    registrations: list[Registration]
    calls: list[tuple[str, dict[str, Any]]]
    logs: list[str]

    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == typ]

    def one(self, typ: str) -> Registration:
        found = self.of_type(typ)
        if len(found) != 1:
            raise AssertionError(f"expected one {typ}, found {len(found)}")
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.registrations if r.urn == urn)


class _LogCapture:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def capture(self, level: str) -> Any:
        def log(msg: str, *args: Any, **kwargs: Any) -> None:
            self.lines.append(f"{level}: {msg}")

        return log


def run_program(
    config: Mapping[str, str],
    *,
    stack: str = "dev",
    world: World | None = None,
    registrations: list[Registration] | None = None,
) -> ProgramRun:
    """Run `__main__.py` once under the mock runtime; raise what the program raises.

    Pass `registrations` (an empty list) to see what was registered before a failure.
    """
    world = world or World.sample()
    mocks = AtlasKmsMocks(world)
    monitor = RecordingMonitor(mocks, registrations)
    # set_mocks keeps an existing root stack, whose outputs would leak into this run.
    set_root_resource(None)  # type: ignore[arg-type]
    pulumi.runtime.set_mocks(mocks, project="atlas-kms", stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(dict(config))
    capture = _LogCapture()
    original = (pulumi.log.warn, pulumi.log.info)
    pulumi.log.warn, pulumi.log.info = capture.capture("warning"), capture.capture("info")  # type: ignore[method-assign]
    outputs: dict[str, Any] = {}
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))

    def program() -> Any:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="atlas_kms_program")
        stack_outputs = pulumi.runtime.get_root_resource().outputs  # type: ignore[union-attr]
        return pulumi.Output.from_input(dict(stack_outputs)).apply(outputs.update)

    try:
        SETTINGS.rpc_manager.clear()
        SETTINGS.outputs.clear()
        _sync_await(run_pulumi_func(lambda: _sync_await(pulumi.Output.from_input(program()).future())))
    finally:
        pulumi.log.warn, pulumi.log.info = original  # type: ignore[method-assign]
    return ProgramRun(outputs=outputs, registrations=monitor.registrations, calls=mocks.calls, logs=capture.lines)
