"""One test per behaviour the offline model claims (offline/model.py, offline/harness.py, offline/simulator.py).

Each test exercises the model directly and fails when that one behaviour is removed from it: the
program's own tests (test_provider_fidelity.py, test_transitions.py) then rest on something proven.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from config.stackfile import read_stack_config
from offline.harness import ROOT, ProgramRun, Registration, World, run_program
from offline.model import (
    ALERT,
    ALIAS,
    ATLAS_PRINCIPALS,
    AUTH,
    EAR,
    KEY,
    KEY_POLICY,
    POLICY,
    ROLE,
    SLEEP,
    ProviderError,
    ProviderModel,
    as_engine_holds,
    changes,
    is_secret,
    reveal,
)
from offline.simulator import EngineRefusedError, _ideals, _prerequisites, orders, plan

ACCOUNT = "111122223333"
STACKS = ROOT / "samples" / "stacks"


def config(stack: str) -> dict[str, str]:
    return read_stack_config(STACKS / f"Pulumi.{stack}.yaml")


def project_of(cfg: dict[str, str]) -> str:
    return cfg["atlas-kms:projectId"]


def create(model: ProviderModel, typ: str, name: str, inputs: dict[str, Any], deps: list[str] | None = None,
           seen: Any = None) -> tuple[str, dict[str, Any]]:
    return model.create(typ, name, inputs, ACCOUNT, deps or [], seen or (lambda _: None))


# --- offline/model.py: what the providers answer ---------------------------------------------


def test_encryption_at_rest_kms_config_comes_back_secret() -> None:
    _, state = create(ProviderModel(), EAR, "ear", {"projectId": "p", "awsKmsConfig": {"enabled": True, "region": "EU_WEST_2"}})
    assert is_secret(state["awsKmsConfig"])


def test_the_sensitive_kms_fields_are_held_as_secrets_in_inputs_too() -> None:
    held = as_engine_holds(EAR, {"awsKmsConfig": {"customerMasterKeyId": "arn:k", "region": "EU_WEST_2"}})
    assert is_secret(held["awsKmsConfig"]["customerMasterKeyId"]) and not is_secret(held["awsKmsConfig"]["region"])


def test_a_key_policy_stores_the_bare_key_id_whatever_was_sent() -> None:
    _, state = create(ProviderModel(), KEY_POLICY, "kp", {"keyId": "arn:aws:kms:eu-west-2:1:key/abc", "policy": "{}"})
    assert state["keyId"] == "abc"


def test_the_provider_sends_false_for_search_nodes_when_omitted() -> None:
    _, state = create(ProviderModel(), EAR, "ear", {"projectId": "p", "awsKmsConfig": {"enabled": True, "region": "EU_WEST_2"}})
    assert state["enabledForSearchNodes"] is False


def test_a_rotated_key_reads_back_kms_default_rotation_period() -> None:
    _, state = create(ProviderModel(), KEY, "k", {"enableKeyRotation": True, "region": "eu-west-2"})
    assert state["rotationPeriodInDays"] == 365
    _, unrotated = create(ProviderModel(), KEY, "k2", {"region": "eu-west-2"})
    assert "rotationPeriodInDays" not in unrotated


@pytest.mark.parametrize("gov", [False, True])
def test_atlas_principal_lives_in_its_own_partition(gov: bool) -> None:
    _, state = create(ProviderModel(atlas_gov=gov), "mongodbatlas:index/cloudProviderAccessSetup:CloudProviderAccessSetup",
                      "setup", {"projectId": "p", "providerName": "AWS"})
    assert state["awsConfigs"][0]["atlasAwsAccountArn"] == ATLAS_PRINCIPALS[gov]
    assert ATLAS_PRINCIPALS[gov].split(":")[1] == ("aws-us-gov" if gov else "aws")


def test_atlas_verdict_on_the_key_can_be_false() -> None:
    _, state = create(ProviderModel(key_valid=False), EAR, "ear", {"projectId": "p", "awsKmsConfig": {"enabled": True, "region": "EU_WEST_2"}})
    assert reveal(state["awsKmsConfig"])["valid"] is False


def test_atlas_refuses_a_region_outside_its_enum() -> None:
    with pytest.raises(ProviderError, match="INVALID_ENUM_VALUE"):
        create(ProviderModel(), EAR, "ear", {"projectId": "p", "awsKmsConfig": {"enabled": True, "region": "eu-west-2"}})


def test_atlas_refuses_unknown_alert_events_and_notification_types() -> None:
    with pytest.raises(ProviderError, match="INVALID_EVENT_TYPE_FOR_ALERT"):
        create(ProviderModel(), ALERT, "a", {"eventType": "KEY_SOMETHING", "notifications": []})
    with pytest.raises(ProviderError, match="INVALID_NOTIFICATION_TYPE"):
        create(ProviderModel(), ALERT, "a", {"eventType": "AWS_ENCRYPTION_KEY_INVALID", "notifications": [{"typeName": "PIGEON"}]})


def test_a_wait_armed_by_another_role_is_not_this_roles_propagation_wait() -> None:
    model = ProviderModel()
    create(model, ROLE, "role", {"assumeRolePolicy": "{}"})
    mine = model.seen[-1]
    create(model, ROLE, "other", {"assumeRolePolicy": "{}"})
    other = model.seen[-1]
    create(model, SLEEP, "wait", {"createDuration": "30s", "triggers": {"roleUniqueId": other.state["uniqueId"]}})
    wait = model.seen[-1]
    auth = {"projectId": "p", "roleId": "r", "aws": {"iamAssumedRoleArn": mine.state["arn"]}}
    with pytest.raises(ProviderError, match="CANNOT_ASSUME_ROLE"):
        create(model, AUTH, "auth", auth, ["wait"], lambda _: wait)
    create(model, SLEEP, "mine", {"createDuration": "30s", "triggers": {"roleUniqueId": mine.state["uniqueId"]}})
    armed = model.seen[-1]
    assert create(model, AUTH, "auth", auth, ["mine"], lambda _: armed)


def test_a_replacement_gets_new_physical_ids() -> None:
    stored = {(ROLE, "role"): ("old-name", {"name": "old-name", "arn": "arn:aws:iam::1:role/old-name"})}
    _, kept = create(ProviderModel(stored=stored), ROLE, "role", {"assumeRolePolicy": "{}"})
    _, replaced = create(ProviderModel(stored=stored, replace=frozenset({(ROLE, "role")})), ROLE, "role", {"assumeRolePolicy": "{}"})
    _, fresh = create(ProviderModel(), ROLE, "role", {"assumeRolePolicy": "{}"})
    assert kept["arn"] == "arn:aws:iam::1:role/old-name"
    assert replaced["arn"] != kept["arn"] and replaced["arn"] != fresh["arn"]
    assert replaced["name"].startswith("role-") and len(replaced["name"]) == len("role-") + 7


def test_the_preview_diff_shows_changes_and_deletions_inside_object_inputs() -> None:
    stored: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
        (ROLE, "r"): ("r", {"tags": {"a": "1", "b": "2"}}),
              (EAR, "e"): ("e", {"awsKmsConfig": {"enabled": True, "region": "EU_WEST_2", "valid": True}})}
    assert changes(stored, [(ROLE, "r", {"tags": {"a": "1"}})]) [0].startswith("~ aws:iam/role:Role r: tags")
    assert changes(stored, [(ROLE, "r", {"tags": {"a": "1", "b": "3"}})])[0].startswith("~ aws:iam/role:Role r: tags")
    # A nested value the provider computes (valid) and the program never sets is no change.
    assert changes(stored, [(ROLE, "r", {"tags": {"a": "1", "b": "2"}}),
                            (EAR, "e", {"awsKmsConfig": {"enabled": True, "region": "EU_WEST_2"}})]) == []
    assert changes(stored, [(EAR, "e", {"awsKmsConfig": {"enabled": True}})])[0].startswith("~ " + EAR)


# --- offline/harness.py: what the lookups answer ----------------------------------------------


def test_atlas_reports_what_was_last_applied_and_a_new_project_reports_nothing() -> None:
    world = World.sample()
    assert world.encryption_answer("p")["awsKmsConfig"]["enabled"] is False
    world.stored = {(EAR, "e"): ("p", {"awsKmsConfig": {"enabled": True, "customerMasterKeyId": "arn:k", "valid": True},
                                       "enabledForSearchNodes": True})}
    answer = world.encryption_answer("p")
    assert answer["awsKmsConfig"]["customerMasterKeyId"] == "arn:k" and answer["enabledForSearchNodes"] is True


def test_an_alias_resolves_only_when_the_state_holds_it_else_the_providers_not_found_error() -> None:
    world = World.sample()
    with pytest.raises(ProviderError, match=r"reading KMS Alias \(alias/x\): empty result"):
        world.alias_answer("alias/x", "eu-west-2")
    world.stored = {(KEY, "k"): ("id1", {"keyId": "id1", "arn": "arn:aws:kms:eu-west-2:1:key/id1"}),
                    (ALIAS, "a"): ("alias/x", {"name": "alias/x", "targetKeyId": "id1"})}
    assert world.alias_answer("alias/x", "eu-west-2")["targetKeyArn"] == "arn:aws:kms:eu-west-2:1:key/id1"


def test_a_role_is_read_by_name_with_its_tags_and_a_missing_one_is_the_providers_not_found() -> None:
    world = World.sample()
    world.stored = {(ROLE, "r"): ("atlas-kms-role-abc1234", {"name": "atlas-kms-role-abc1234", "arn": "arn:aws:iam::1:role/atlas-kms-role-abc1234",
                                                           "tags": {"k": "v"}})}
    assert world.role_answer("atlas-kms-role-abc1234")["tags"] == {"k": "v"}
    with pytest.raises(ProviderError, match="couldn't find resource"):
        world.role_answer("someone-elses-role")


def test_atlas_reports_each_setup_role_authorized_and_the_one_encryption_at_rest_uses() -> None:
    """GET .../cloudProviderAccess as Atlas answers it, validated against the official schema."""
    import jsonschema

    from standins.atlas import SCHEMAS

    first = run_program(config("same-account"), stack="same-account")
    world = World.sample()
    world.stored = first.stored_state()
    answer = world.access_answer(project_of(config("same-account")))
    jsonschema.validate(answer, SCHEMAS["access"])
    (role,) = answer["awsIamRoles"]
    assert role["iamAssumedRoleArn"] == first.outputs["roleArn"]
    assert role["roleId"] == first.outputs["atlasRoleId"]
    assert role["featureUsages"] == [{"featureType": "ENCRYPTION_AT_REST", "featureId": None}]
    # Before encryption at rest is configured the role is authorized but serves no feature.
    world.stored = {k: v for k, v in world.stored.items() if k[0] != EAR}
    assert world.access_answer(project_of(config("same-account")))["awsIamRoles"][0]["featureUsages"] == []


def test_the_program_makes_no_account_wide_listing() -> None:
    """Its lookups do not grow with the AWS account: no ListRoles, no ListKeys; Atlas names its role."""
    first = run_program(config("same-account"), stack="same-account")
    world = World.sample()
    world.stored = first.stored_state()
    again = run_program(config("same-account"), stack="same-account", world=world)
    tokens = {token for token, _ in again.calls}
    assert not {t for t in tokens if "getRoles" in t or "getKeys" in t or "getPolicies" in t}
    # The role Atlas reports is checked by name, once.
    assert [a["name"] for t, a in again.calls if t == "aws:iam/getRole:getRole"] == [first.outputs["roleArn"].rsplit("/", 1)[-1]]


# --- offline/simulator.py: what the engine does between two runs ------------------------------


def reg(typ: str, name: str, *, inputs: dict[str, Any] | None = None, state: dict[str, Any] | None = None,
        deps: tuple[str, ...] = (), protect: bool = False, retain: bool = False) -> Registration:
    return Registration(type=typ, name=name, urn=f"urn:{name}", id=name, parent="", provider="", protect=protect,
                        retain_on_delete=retain, dependencies=[f"urn:{d}" for d in deps], inputs=inputs or {},
                        state=state or dict(inputs or {}))


def runs(before: list[Registration], after: list[Registration]) -> tuple[ProgramRun, ProgramRun]:
    return (ProgramRun({}, before, [], []), ProgramRun({}, after, [], []))


def test_a_changed_force_new_property_replaces_and_any_other_change_updates() -> None:
    before, after = runs([reg(KEY, "k", inputs={"region": "eu-west-2", "description": "a"})],
                         [reg(KEY, "k", inputs={"region": "us-east-1", "description": "a"})])
    assert [(s.kind, s.changed) for s in plan(before, after)] == [("replace", ("region",)), ("delete-replaced", ())]
    before, after = runs([reg(KEY, "k", inputs={"region": "eu-west-2", "description": "a"})],
                         [reg(KEY, "k", inputs={"region": "eu-west-2", "description": "b"})])
    assert [s.kind for s in plan(before, after)] == ["update"]


def test_replace_on_changes_and_dropped_inputs_are_changes_too() -> None:
    new = reg(SLEEP, "s", inputs={"createDuration": "30s"})
    new.replace_on_changes = ["createDuration"]
    before, after = runs([reg(SLEEP, "s", inputs={"createDuration": "10s"})], [new])
    assert plan(before, after)[0].kind == "replace"
    before, after = runs([reg(ROLE, "r", inputs={"description": "x", "path": "/"})], [reg(ROLE, "r", inputs={"description": "x"})])
    assert plan(before, after)[0].changed == ("path",)


def test_the_engine_refuses_to_delete_or_replace_a_protected_resource() -> None:
    before, after = runs([reg(KEY, "k", inputs={"region": "eu-west-2"}, protect=True)], [])
    with pytest.raises(EngineRefusedError, match="cannot be deleted because it is protected"):
        plan(before, after)
    before, after = runs([reg(KEY, "k", inputs={"region": "eu-west-2"}, protect=True)],
                         [reg(KEY, "k", inputs={"region": "us-east-1"}, protect=True)])
    with pytest.raises(EngineRefusedError, match="unable to replace"):
        plan(before, after)


def test_deletes_come_after_every_create_and_update_dependents_first() -> None:
    before, after = runs([reg(ROLE, "role"), reg(POLICY_T, "p", deps=("role",)), reg(KEY, "k", inputs={"x": 1})],
                         [reg(KEY, "k", inputs={"x": 2}), reg(ROLE, "role2")])
    steps = plan(before, after)
    needs = _prerequisites(steps, before, after)
    index = {(s.kind, s.key[1]): i for i, s in enumerate(steps)}
    assert index[("update", "k")] in needs[index[("delete", "role")]]
    assert index[("create", "role2")] in needs[index[("delete", "p")]]
    assert index[("delete", "p")] in needs[index[("delete", "role")]]


POLICY_T = "aws:iam/policy:Policy"


def test_the_states_checked_are_exactly_those_every_order_passes_through() -> None:
    before, after = runs(
        [reg(ROLE, "role", inputs={"d": 1}), reg(POLICY_T, "p1", inputs={"d": 1}, deps=("role",)),
         reg(POLICY_T, "p2", inputs={"d": 1}, deps=("role",))],
        [reg(ROLE, "role", inputs={"d": 2}), reg(POLICY_T, "p1", inputs={"d": 2}, deps=("role",)),
         reg(POLICY_T, "p2", inputs={"d": 2}, deps=("role", "p1")), reg(KEY, "k", deps=("role",))])
    steps = plan(before, after)
    needs = _prerequisites(steps, before, after)
    ideals, exhaustive = _ideals(needs, set(range(len(steps))), 1000, 0)
    visited = {frozenset(order[:n]) for order in orders(steps, needs) for n in range(len(steps) + 1)}
    assert exhaustive and set(ideals) == visited


def test_a_retained_resource_that_leaves_the_program_is_only_forgotten() -> None:
    before, after = runs([reg(KEY, "k", inputs={"region": "eu-west-2"}, retain=True)], [])
    from offline.simulator import transition

    assert transition(before, after, atlas_addresses=[]).forgotten == [(KEY, "k")]


def test_every_behaviour_above_is_what_the_program_runs_against() -> None:
    # The same model answers the program: a second run on the first run's state changes nothing.
    first = run_program({"aws:region": "eu-west-2", "atlas-kms:projectId": "6f1e2d3c4b5a697887766554"}, stack="dev")
    world = World.sample()
    world.region, world.stored = "eu-west-2", first.stored_state()
    second = run_program({"aws:region": "eu-west-2", "atlas-kms:projectId": "6f1e2d3c4b5a697887766554"}, stack="dev", world=world)
    assert second.changes_against(first) == []
    assert json.loads(second.one(KEY).inputs["policy"]) == json.loads(first.one(KEY).inputs["policy"])
    assert not list(itertools.islice((r for r in second.registrations if r.type == KEY and not r.protect), 1))


def test_the_program_requires_the_first_provider_release_that_retries_cannot_assume_role() -> None:
    # pulumi-mongodbatlas 4.2 (terraform-provider-mongodbatlas PR #4064): EncryptionAtRest's create retries
    # CANNOT_ASSUME_ROLE for up to 3 minutes; before it, the check never matched.
    from importlib import metadata

    from offline.harness import ROOT

    line = next(x for x in (ROOT / "requirements.txt").read_text().splitlines() if x.startswith("pulumi-mongodbatlas"))
    assert line.startswith("pulumi-mongodbatlas>=4.2,")
    major, minor = (int(p) for p in metadata.version("pulumi-mongodbatlas").split(".")[:2])
    assert (major, minor) >= (4, 2)


def test_a_resource_left_marked_for_deletion_is_deleted_at_the_end_of_the_next_update() -> None:
    """pulumi >= 3.46 (PR 11027): pending deletes run after every create and update of the next update."""
    from dataclasses import replace as copy

    old_role = copy(reg(ROLE, "r", inputs={"name": "old"}), pending_delete=True)
    before, after = runs([reg(ROLE, "r", inputs={"name": "new"}), old_role],
                         [reg(ROLE, "r", inputs={"name": "new"}), reg(POLICY, "p", inputs={"policy": "{}"})])
    steps = plan(before, after)
    assert [str(s) for s in steps] == ["create p", "delete-replaced r"]
    needs = _prerequisites(steps, before, after)
    assert needs[1] >= {0}  # after every create and update


def test_a_stopped_update_leaves_the_replaced_resource_marked_and_continue_on_error_skips_only_dependents() -> None:
    from offline.simulator import Step, Transition, continue_on_error_states, stop_states, stopped_at

    before, after = runs([reg(ROLE, "r", inputs={"name": "a"}, state={"name": "a", "arn": "arn:a"})],
                         [reg(ROLE, "r", inputs={"name": "b"}, state={"name": "b", "arn": "arn:b"}),
                          reg(POLICY, "p", inputs={"policy": "{}"}, deps=("r",)),
                          reg(KEY, "k", inputs={"policy": "{}"})])
    steps = plan(before, after)
    t = Transition(steps=steps, states=0, exhaustive=True, before=before, after=after,
                   needs=_prerequisites(steps, before, after))
    assert [str(s) for s in steps] == ["replace r (name)", "create p", "create k", "delete-replaced r"]
    # Stopped after the replacement was created: the old role is still there, marked for deletion.
    partial = stopped_at(t, frozenset({0}))
    assert sorted((r.name, r.pending_delete) for r in partial.registrations if r.type == ROLE) == [("r", False), ("r", True)]
    assert frozenset({0}) in stop_states(t)
    # --continue-on-error: the role's replacement fails; the policy that depends on it is skipped, the key is not.
    assert frozenset({2}) in continue_on_error_states(t)
    assert Step("create", (KEY, "k")) == steps[2]
