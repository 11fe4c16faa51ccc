"""The component used directly from another program, with Pulumi's own test decorator."""

from __future__ import annotations

import pulumi

from offline.harness import AtlasKmsMocks, RecordingMonitor, World, atlas_api_answers


def test_the_component_can_be_built_directly_and_exposes_its_typed_outputs() -> None:
    # Mocks are set inside the test: resources made at import would bind a stale event loop.
    world = World.sample()
    world.region = "eu-west-1"
    mocks = AtlasKmsMocks(world)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="atlas-kms", stack="unit", preview=False, monitor=monitor)

    from components.atlas_kms import AtlasKmsEncryption, AtlasKmsEncryptionArgs

    @pulumi.runtime.test
    def check() -> pulumi.Output[None]:
        # Args are the stack settings under their Python names; the region and account come from the
        # AWS provider (getRegion, getCallerIdentity), as in any program.
        component = AtlasKmsEncryption("edge", AtlasKmsEncryptionArgs(project_id="6f1e2d3c4b5a697887766554"))

        def verify(values: list[object]) -> None:
            key_arn, role_arn, cidrs, valid = values
            assert isinstance(key_arn, str) and key_arn.startswith("arn:aws:kms:eu-west-1:111122223333:key/")
            assert isinstance(role_arn, str) and role_arn.startswith("arn:aws:iam::111122223333:role/edge-role-")
            assert isinstance(cidrs, list) and "3.92.113.229/32" in cidrs
            assert valid is True
            names = {r.name for r in monitor.registrations}
            assert {"edge", "edge-key", "edge-role", "edge-encryption-at-rest"} <= names

        return pulumi.Output.all(
            component.key_arn, component.role_arn, component.allowed_cidrs, component.encryption_valid
        ).apply(verify)

    # The Atlas Admin API answers from the same world (the roles Atlas has: none yet).
    with atlas_api_answers(world):
        check()


def test_a_webhook_url_given_to_the_component_as_a_plain_string_is_still_stored_as_a_secret() -> None:
    # The Python user (and the package's Construct, which receives plain values) may pass the URL as a
    # str; a webhook URL often embeds its own credential, so the state must hold it encrypted anyway.
    from config.stackfile import read_stack_config
    from offline.harness import ROOT, run_program
    from offline.model import ALERT, contains_secret, is_secret, reveal

    hook = "https://hooks.example.com/atlas/T0K3N"

    def program() -> None:
        from components.atlas_kms import AtlasKmsEncryption

        AtlasKmsEncryption("atlas-kms", {"project_id": "6f1e2d3c4b5a697887766554", "alerts": {"webhook_url": hook}})

    config = read_stack_config(ROOT / "samples" / "stacks" / "Pulumi.same-account.yaml")
    run = run_program(config, stack="same-account", program=program)
    alerts = run.of_type(ALERT)
    assert alerts
    for alert in alerts:
        assert is_secret(alert.inputs["notifications"])
        assert [n["webhookUrl"] for n in reveal(alert.inputs["notifications"]) if n["typeName"] == "WEBHOOK"] == [hook]
    # Nowhere in the registrations does the URL appear outside a secret.
    def in_the_clear(value: object) -> object:
        if is_secret(value):
            return None
        if isinstance(value, dict):
            return {k: in_the_clear(v) for k, v in value.items()}
        if isinstance(value, list):
            return [in_the_clear(v) for v in value]
        return value

    assert all(contains_secret(a.inputs) for a in alerts)
    assert not any(hook in repr(in_the_clear(reg.inputs)) for reg in run.registrations)
