"""First contact: encryption at rest that a team already runs, set up by hand (MongoDB's procedure) or by
Terraform (the provider's example), is taken over without a gap, a second role, or the old grant left."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from config.stackfile import read_stack_config
from offline.harness import ROOT, ProgramRun, Registration, run_program
from offline.model import ATTACH, AUTH, EAR, INLINE, POLICY, ROLE, SETUP, ProviderError
from offline.simulator import EngineRefusedError, Transition, interruptions, plan, transition
from offline.worlds import (
    ATLAS_ROLE_ID,
    EXTERNAL_ID,
    ROLE_NAMES,
    Shape,
    existing_setup,
    start,
    trust_policy,
    world_with,
)

STACKS = ROOT / "samples" / "stacks"
K = "arn:aws:kms:eu-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PROJECT = "6f1e2d3c4b5a697887766554"
SHAPES: list[Shape] = ["console", "terraform"]


def role_arn(shape: Shape) -> str:
    return f"arn:aws:iam::111122223333:role/{ROLE_NAMES[shape]}"


def config(**settings: Any) -> dict[str, str]:
    cfg = read_stack_config(STACKS / "Pulumi.existing-key.yaml")
    for key, value in settings.items():
        cfg[f"atlas-kms:{key}"] = value if isinstance(value, str) else json.dumps(value)
    return cfg


def first_run(shape: Shape, objects: Any = None, **settings: Any) -> tuple[ProgramRun, Any]:
    objects = objects or existing_setup(shape, project_id=PROJECT, key_arn=K)
    return run_program(config(**settings), stack="existing-key", world=world_with(objects)), objects


def refused(objects: Any, **settings: Any) -> tuple[str, list[Registration]]:
    seen: list[Registration] = []
    with pytest.raises(pulumi.RunError) as err:
        run_program(config(**settings), stack="existing-key", world=world_with(objects), registrations=seen)
    return str(err.value), [r for r in seen if r.type != "atlas-kms:index:AtlasKmsEncryption"]


def holds(t: Transition) -> None:
    assert not t.gaps, "\n".join(map(str, t.gaps[:5]))
    for stop in interruptions(t):
        assert not stop.resumed.gaps and not stop.differs_from_end, str(stop)


# --- first contact is a decision, never a surprise -----------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_first_contact_stops_naming_what_atlas_uses_and_each_way_forward_with_nothing_registered(shape: Shape) -> None:
    message, registered = refused(existing_setup(shape, project_id=PROJECT, key_arn=K))
    assert registered == []
    for fact in (K, ATLAS_ROLE_ID, role_arn(shape), "ENCRYPTION_AT_REST"):
        assert fact in message
    assert f"pulumi config set --path 'atlas-kms:adopt.roleArn' {role_arn(shape)}" in message
    assert f"pulumi config set --path 'atlas-kms:adopt.moveFrom' {role_arn(shape)}" in message


def test_when_atlas_cannot_be_read_the_run_stops_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never guess which role Atlas uses: no answer from the Atlas API is no plan."""
    from standins import atlas

    def unreachable(group: str) -> dict[str, Any]:
        raise ConnectionResetError("Atlas is down")

    monkeypatch.setattr(atlas.AtlasStandIn, "_answer", lambda self, st: self._error(500, "UNEXPECTED_ERROR"))
    monkeypatch.setattr("facts.atlas_api.time.sleep", lambda _: None)
    message, registered = refused(existing_setup("console", project_id=PROJECT, key_arn=K))
    assert "cannot read which role Atlas uses" in message and "cloudProviderAccess" in message
    assert registered == []


# --- adopt.roleArn: one role, one setup, imported ---------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_adopting_imports_the_role_its_setup_and_encryption_at_rest_and_makes_no_second_role(shape: Shape) -> None:
    run, _ = first_run(shape, adopt={"roleArn": role_arn(shape)})
    role, setup, ear = run.one(ROLE), run.one(SETUP), run.one(EAR)
    assert role.import_id == ROLE_NAMES[shape]
    assert role.inputs["name"] == ROLE_NAMES[shape] and role.inputs["path"] == "/"
    assert setup.import_id == f"{PROJECT}-AWS-{ATLAS_ROLE_ID}"
    assert ear.import_id == PROJECT
    assert run.outputs["roleArn"] == role_arn(shape)
    assert run.outputs["atlasRoleId"] == ATLAS_ROLE_ID
    # The authorization cannot be imported: created anew for the same Atlas role and the same ARN.
    auth = run.one(AUTH)
    assert auth.inputs["roleId"] == ATLAS_ROLE_ID and auth.inputs["aws"]["iamAssumedRoleArn"] == role_arn(shape)
    # The trust policy the program writes is the one Atlas's setup asks for (principal, external id).
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] == EXTERNAL_ID


@pytest.mark.parametrize("shape", SHAPES)
def test_adopting_is_imports_and_in_place_updates_and_the_old_grant_goes_only_after_the_programs(shape: Shape) -> None:
    run, objects = first_run(shape, adopt={"roleArn": role_arn(shape)})
    t = transition(start(objects), run)
    kinds = {s.key[0]: s.kind for s in t.steps}
    assert kinds[ROLE] == kinds[SETUP] == kinds[EAR] == "import"
    assert not [s for s in t.steps if s.kind in ("replace", "delete", "delete-replaced")]
    holds(t)
    # At the end only the program's grant is on the role: the hand-made one was detached or deleted.
    from offline.simulator import _identity, _live

    end = _live(t.steps, frozenset(range(len(t.steps))), t.before, run)  # type: ignore[arg-type]
    labels = [label for label, _ in _identity(end, role_arn(shape))]
    assert labels and not [x for x in labels if "atlas-kms-access" in x or "mongo_setup_policy" in x]


@pytest.mark.parametrize("shape", SHAPES)
def test_after_the_takeover_the_stack_runs_as_before(shape: Shape) -> None:
    run, objects = first_run(shape, adopt={"roleArn": role_arn(shape)})
    world = world_with(objects)
    world.stored = run.stored_state()
    world.unmanaged = {k: v for k, v in objects.items() if k[0] not in (ROLE, SETUP, EAR)}
    again = run_program(config(adopt={"roleArn": role_arn(shape)}), stack="existing-key", world=world)
    assert again.changes_against(run) == []
    assert not [r for r in again.registrations if r.import_id]  # nothing to import any more


def test_the_old_grant_would_go_too_early_without_the_ordering_and_the_simulator_says_so(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A row that must fail: the exclusive policies written before the program's own grant exists."""
    import components.atlas_kms as component

    real = component.AtlasKmsEncryption._exclusive_policies
    monkeypatch.setattr(component.AtlasKmsEncryption, "_exclusive_policies",
                        lambda self, role, policies: real(self, role, []))
    run, objects = first_run("console", adopt={"roleArn": role_arn("console")})
    gaps = transition(start(objects), run).gaps
    assert gaps and all(g.key_arn == K for g in gaps)


@pytest.mark.parametrize(("change", "why"), [
    ({"trust": trust_policy(external_id="another-external-id")}, "does not trust Atlas's principal"),
    ({"trust": trust_policy(principal="arn:aws:iam::999999999999:root")}, "does not trust Atlas's principal"),
])
def test_a_role_that_is_not_what_atlas_setup_expects_is_refused_by_the_setting(change: dict[str, Any], why: str) -> None:
    objects = existing_setup("console", project_id=PROJECT, key_arn=K, trust=change["trust"])
    message, registered = refused(objects, adopt={"roleArn": role_arn("console")})
    assert message.startswith("atlas-kms:adopt.roleArn:") and why in message
    assert registered == []


def test_a_role_another_atlas_feature_uses_is_refused_by_the_setting() -> None:
    objects = existing_setup("console", project_id=PROJECT, key_arn=K)
    world = world_with(objects)
    answer = world.access_answer(PROJECT)
    answer["awsIamRoles"][0]["featureUsages"].append({"featureType": "PUSH_BASED_LOG_EXPORT",
                                                      "featureId": {"groupId": PROJECT, "bucketName": "logs"}})
    world.atlas_access = answer
    seen: list[Registration] = []
    with pytest.raises(pulumi.RunError, match=r"atlas-kms:adopt.roleArn: Atlas also uses the role .* PUSH_BASED_LOG_EXPORT"):
        run_program(config(adopt={"roleArn": role_arn("console")}), stack="existing-key", world=world, registrations=seen)
    assert [r for r in seen if r.type != "atlas-kms:index:AtlasKmsEncryption"] == []


def test_naming_another_role_than_atlas_uses_is_refused_with_the_right_one() -> None:
    message, registered = refused(existing_setup("console", project_id=PROJECT, key_arn=K),
                                  adopt={"roleArn": "arn:aws:iam::111122223333:role/some-other-role"})
    assert f"set atlas-kms:adopt.roleArn to {role_arn('console')}" in message and registered == []


def test_a_role_of_another_account_cannot_be_imported_and_says_what_to_do() -> None:
    with pytest.raises(pulumi.RunError, match=r"atlas-kms:adopt.roleArn: the role is in account 444455556666"):
        run_program(config(adopt={"roleArn": "arn:aws:iam::444455556666:role/x"}), stack="existing-key",
                    world=world_with(existing_setup("console", project_id=PROJECT, key_arn=K)))


def test_the_setting_takes_exactly_one_way() -> None:
    with pytest.raises(pulumi.RunError, match=r"atlas-kms:adopt: give exactly one of roleArn"):
        run_program(config(adopt={"roleArn": role_arn("console"), "moveFrom": role_arn("console")}),
                    stack="existing-key", world=world_with(existing_setup("console", project_id=PROJECT, key_arn=K)))


# --- adopt.moveFrom: the stack's own role, the old one left to its owner ---------------------------


def test_moving_from_a_hand_made_role_makes_the_stacks_own_and_moves_atlas_without_a_gap() -> None:
    run, objects = first_run("console", adopt={"moveFrom": role_arn("console")})
    assert run.one(ROLE).import_id == "" and run.one(SETUP).import_id == ""
    assert run.one(EAR).import_id == PROJECT
    assert run.outputs["roleArn"] != role_arn("console")
    t = transition(start(objects), run)
    holds(t)
    [warning] = [line for line in run.logs if "adopt.moveFrom" in line]
    assert role_arn("console") in warning and warning.startswith("warning:")


def test_the_old_role_is_warned_about_on_every_run_while_it_exists() -> None:
    run, objects = first_run("console", adopt={"moveFrom": role_arn("console")})
    world = world_with({k: v for k, v in objects.items() if k[0] != EAR})
    world.stored = run.stored_state()
    again = run_program(config(adopt={"moveFrom": role_arn("console")}), stack="existing-key", world=world)
    assert [line for line in again.logs if "adopt.moveFrom" in line]
    world.unmanaged = {k: v for k, v in world.unmanaged.items() if k[0] not in (ROLE, POLICY, ATTACH, INLINE)}
    gone = run_program(config(adopt={"moveFrom": role_arn("console")}), stack="existing-key", world=world)
    assert not [line for line in gone.logs if "adopt.moveFrom" in line]


# --- the engine's import, as modelled -------------------------------------------------------------


def test_an_import_that_would_replace_the_resource_is_refused_as_the_engine_does() -> None:
    objects = existing_setup("console", project_id=PROJECT, key_arn=K)
    name, state = objects[(ROLE, "existing-role")]
    objects[(ROLE, "existing-role")] = (name, {**state, "path": "/team/"})
    # The program keeps the name and path the ARN gives; a path it did not give would replace the role.
    with pytest.raises(ProviderError, match="previously-imported resources that still specify an ID may not be replaced"):
        run_program(config(adopt={"roleArn": role_arn("console")}), stack="existing-key", world=world_with(objects))


def test_the_simulator_refuses_an_import_that_needs_a_replacement() -> None:
    run, objects = first_run("console", adopt={"roleArn": role_arn("console")})
    before = start(objects)
    for r in before.registrations:
        if r.type == ROLE:
            r.state["path"] = r.inputs["path"] = "/team/"
    with pytest.raises(EngineRefusedError, match="may not be replaced"):
        plan(before, run)


def test_adopting_and_changing_the_key_in_one_run_keeps_the_old_key_usable_until_atlas_moves() -> None:
    """The key Atlas holds is the outgoing key of the key lifecycle: usable until Atlas reports the new one."""
    other = "arn:aws:kms:eu-west-2:111122223333:key/bbbbbbbb-12ab-34cd-56ef-1234567890ab"
    objects = existing_setup("console", project_id=PROJECT, key_arn=K)
    run = run_program(config(keyArn=other, adopt={"roleArn": role_arn("console")}), stack="existing-key",
                      world=world_with(objects))
    holds(transition(start(objects), run))
    assert [line for line in run.logs if "moving off the key" in line and K in line]


def test_first_contact_stops_before_the_key_accounts_provider_too() -> None:
    """Cross-account: the key account's provider is a child like any other; first contact comes first."""
    cfg = read_stack_config(STACKS / "Pulumi.cross-account.yaml")
    seen: list[Registration] = []
    with pytest.raises(pulumi.RunError, match="through a role this stack did not create"):
        run_program(cfg, stack="cross-account", registrations=seen,
                    world=world_with(existing_setup("console", project_id=PROJECT, key_arn=K)))
    assert [r.type for r in seen if r.type != "atlas-kms:index:AtlasKmsEncryption"] == []


def test_without_api_keys_the_run_says_which_settings_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from components.lookups import atlas_client
    from core.errors import ReadError
    from facts.atlas_api import PRIVATE_KEY_VARS, PUBLIC_KEY_VARS

    for name in (*PUBLIC_KEY_VARS, *PRIVATE_KEY_VARS):
        monkeypatch.delenv(name, raising=False)
    pulumi.runtime.set_all_config({"mongodbatlas:clientId": "service-account-id"})
    try:
        with pytest.raises(ReadError, match=r"configured with clientId, which this program cannot use yet; set the "
                                            r"provider's API keys: `pulumi config set mongodbatlas:publicKey"):
            atlas_client()
    finally:
        pulumi.runtime.set_all_config({})


def test_a_trust_policy_that_spells_the_condition_key_in_another_case_is_still_atlas_trust() -> None:
    """IAM condition key names are case-insensitive: `sts:externalid` is the external id condition."""
    trust = trust_policy()
    trust["Statement"][0]["Condition"] = {"StringEquals": {"sts:externalid": EXTERNAL_ID}}
    objects = existing_setup("console", project_id=PROJECT, key_arn=K, trust=trust)
    run, _ = first_run("console", objects, adopt={"roleArn": role_arn("console")})
    assert run.one(ROLE).import_id == ROLE_NAMES["console"]
