"""The key plan of one run, and the lifecycle settings: pure code, tested directly and by property."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.settings import SettingsError, parse_settings
from core.lifecycle import (
    AtlasEncryption,
    KeyRef,
    LifecycleError,
    plan_keys,
    rotation_reminder_days,
)
from core.policies import RESTORE_ACTIONS, USE_ACTIONS, KeyAccess, policy_size, role_policy_documents

PROJECT = "6f1e2d3c4b5a697887766554"
A = "arn:aws:kms:eu-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
B = "arn:aws:kms:eu-west-2:111122223333:key/bbbbbbbb-12ab-34cd-56ef-1234567890ab"
C = "arn:aws:kms:eu-west-2:111122223333:key/cccccccc-12ab-34cd-56ef-1234567890ab"
G1 = "arn:aws:kms:eu-west-2:111122223333:key/11111111-1111-1111-1111-111111111111"
G2 = "arn:aws:kms:eu-west-2:111122223333:key/22222222-2222-2222-2222-222222222222"


def make(**config: Any):  # type: ignore[no-untyped-def]
    raw = {"atlas-kms:projectId": PROJECT, **{f"atlas-kms:{k}": v for k, v in config.items()}}
    return parse_settings(raw, stack="dev", aws_region="eu-west-2", role_account="111122223333", role_partition="aws")


def holding(key: str | None, valid: bool = True) -> AtlasEncryption:
    return AtlasEncryption(enabled=key is not None, key_id=key, valid=valid)


# --- settings ---------------------------------------------------------------------------------


def test_the_lifecycle_settings_default_to_one_generation_yearly_rotation_and_nothing_retained() -> None:
    s = make()
    assert (s.key_generation, s.retired_generations, s.retained_key_arns, s.rotation_period_days) == (1, (), (), 365)


def test_stack_config_strings_and_yaml_numbers_are_both_accepted() -> None:
    assert make(keyGeneration="3").key_generation == 3
    assert make(keyGeneration=3, rotationPeriodInDays="90").rotation_period_days == 90
    assert [str(a) for a in make(keyArn=B, retainedKeyArns=json.dumps([A])).retained_key_arns] == [A]


@pytest.mark.parametrize(("config", "says"), [
    ({"keyGeneration": 0}, "atlas-kms:keyGeneration: expected a whole number from 1 to 100"),
    ({"keyGeneration": "two"}, "atlas-kms:keyGeneration: expected a whole number from 1 to 100"),
    ({"keyGeneration": True}, "atlas-kms:keyGeneration: expected a whole number"),
    ({"keyGeneration": 101}, "from 1 to 100"),
    ({"rotationPeriodInDays": 89}, "atlas-kms:rotationPeriodInDays: expected a whole number from 90 to 2560"),
    ({"rotationPeriodInDays": 2561}, "atlas-kms:rotationPeriodInDays: expected a whole number from 90 to 2560"),
    ({"keyArn": A, "rotationPeriodInDays": 180}, "atlas-kms:rotationPeriodInDays: only for keys this program creates"),
    ({"retainedKeyArns": ["1234abcd-12ab-34cd-56ef-1234567890ab"]}, "atlas-kms:retainedKeyArns[0]"),
    ({"retainedKeyArns": [A, A]}, "atlas-kms:retainedKeyArns[1]: " + A + " is listed twice"),
    ({"retainedKeyArns": A}, "atlas-kms:retainedKeyArns: expected a list of strings"),
    ({"keyArn": A, "retainedKeyArns": [A]}, "is atlas-kms:keyArn, the key Atlas is to use"),
    ({"retainedKeyArns": ["arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"]},
     "atlas-kms:retainedKeyArns[0]: partition 'aws-us-gov' differs from the role's partition 'aws'"),
    ({"keyGeneration": 2, "retiredKeyGenerations": [2]}, "generation 2 is atlas-kms:keyGeneration"),
    ({"keyGeneration": 3, "retiredKeyGenerations": [1, 1]}, "lists a generation twice"),
    ({"retiredKeyGenerations": ["1"]}, "atlas-kms:retiredKeyGenerations: expected a list of whole numbers"),
    ({"keyGeneration": 2, "retiredKeyGenerations": [0]}, "[0] are not key generations"),
])
def test_bad_lifecycle_settings_are_refused_by_name_with_the_fix(config: dict[str, Any], says: str) -> None:
    with pytest.raises(SettingsError) as exc:
        make(**config)
    assert says in str(exc.value)


def test_each_generation_has_its_own_alias_and_the_first_keeps_the_original_name() -> None:
    s = make()
    assert s.generation_alias(1) == f"alias/atlas-kms/{PROJECT}/dev" == s.key_alias
    assert s.generation_alias(2) == f"alias/atlas-kms/{PROJECT}/dev/gen-2"


def test_atlas_rotation_reminder_follows_a_created_keys_rotation_and_keeps_atlas_default_otherwise() -> None:
    assert rotation_reminder_days(make(rotationPeriodInDays=180)) == 180
    assert rotation_reminder_days(make()) == 365
    assert rotation_reminder_days(make(keyArn=A)) == 90


# --- the plan ---------------------------------------------------------------------------------


def test_a_project_never_configured_uses_the_target_only() -> None:
    plan = plan_keys(make(keyArn=A), AtlasEncryption(), {})
    assert plan.use == (KeyRef(arn=A),) and plan.retained == () and plan.warnings == ()


def test_while_atlas_holds_another_key_both_get_every_action() -> None:
    plan = plan_keys(make(keyArn=B, retainedKeyArns=[A]), holding(A), {})
    assert plan.use == (KeyRef(arn=B), KeyRef(arn=A))
    assert plan.retained == ()  # A is in use: it gets more than a restore needs, not less
    assert plan.warnings == ()


def test_once_atlas_reports_the_target_a_retained_key_keeps_only_restore_access() -> None:
    plan = plan_keys(make(keyArn=B, retainedKeyArns=[A]), holding(B), {})
    assert plan.use == (KeyRef(arn=B),) and plan.retained == (KeyRef(arn=A),)


def test_atlas_holding_a_key_by_its_bare_id_is_matched_to_the_stack_keys() -> None:
    plan = plan_keys(make(keyArn=B), holding("bbbbbbbb-12ab-34cd-56ef-1234567890ab"), {})
    assert plan.outgoing is None


def test_moving_atlas_off_a_bare_key_id_nobody_listed_is_refused_with_the_setting_to_use() -> None:
    with pytest.raises(LifecycleError, match="atlas-kms:retainedKeyArns: Atlas holds the key 'ffff"):
        plan_keys(make(keyArn=B), holding("ffffffff-12ab-34cd-56ef-1234567890ab"), {})


def test_earlier_generations_are_kept_and_retained_and_a_retired_one_loses_access() -> None:
    plan = plan_keys(make(keyGeneration=3, retiredKeyGenerations=[1]), holding(G2), {1: G1, 2: G2})
    assert plan.generations == (1, 2, 3)
    assert plan.target == KeyRef(generation=3) and plan.outgoing == KeyRef(arn=G2, generation=2)
    assert plan.access_of(3) == USE_ACTIONS and plan.access_of(2) == USE_ACTIONS and plan.access_of(1) == ()


def test_generations_are_raised_one_at_a_time_so_none_is_ever_hidden_by_a_gap() -> None:
    with pytest.raises(LifecycleError, match=r"atlas-kms:keyGeneration: 3 skips a generation .*:keyGeneration 2`"):
        plan_keys(make(keyGeneration=3), holding(G1), {1: G1})
    with pytest.raises(LifecycleError, match="highest this stack created is none yet"):
        plan_keys(make(keyGeneration=2), AtlasEncryption(), {})
    assert plan_keys(make(keyGeneration=2), holding(G1), {1: G1}).generations == (1, 2)


def test_replicas_of_a_multi_region_key_are_different_keys() -> None:
    east = "arn:aws:kms:eu-west-2:111122223333:key/mrk-0123456789abcdef0123456789abcdef"
    west = east.replace("eu-west-2", "eu-west-1")
    plan = plan_keys(make(keyArn=west, retainedKeyArns=[east]), holding(east), {})
    assert plan.outgoing == KeyRef(arn=east)  # kept with every action while Atlas moves
    settled = plan_keys(make(keyArn=west, retainedKeyArns=[east]), holding(west), {})
    assert settled.retained == (KeyRef(arn=east),)


def test_with_key_arn_the_created_generations_stay_registered_and_retained() -> None:
    plan = plan_keys(make(keyArn=A), holding(A), {1: G1})
    assert plan.generations == (1,) and plan.access_of(1) == RESTORE_ACTIONS


def test_retiring_the_generation_atlas_still_holds_is_refused() -> None:
    with pytest.raises(LifecycleError, match="atlas-kms:retiredKeyGenerations: generation 1 is the key Atlas holds now"):
        plan_keys(make(keyGeneration=2, retiredKeyGenerations=[1]), holding(G1), {1: G1})


def test_retiring_a_generation_this_stack_never_created_is_said_plainly() -> None:
    plan = plan_keys(make(keyGeneration=2, retiredKeyGenerations=[3]), holding(G1), {1: G1})
    assert any("[3] name no key this stack created" in w for w in plan.warnings)


keys = st.sampled_from([A, B, C, G1, G2])


@settings(max_examples=200, deadline=None)
@given(target=keys, held=st.none() | keys, retained=st.lists(keys, unique=True, max_size=4),
       numbers=st.lists(st.integers(1, 3), unique=True, max_size=2))
def test_the_key_atlas_holds_always_keeps_every_action_and_no_key_is_granted_twice(
        target: str, held: str | None, retained: list[str], numbers: list[int]) -> None:
    # Each existing generation's alias names its own key.
    generations = dict(zip(numbers, [G1, G2], strict=False))
    retained = [k for k in retained if k != target]
    try:
        s = make(keyArn=target, retainedKeyArns=retained)
        plan = plan_keys(s, holding(held), generations)
    except (SettingsError, LifecycleError):
        return
    use = [k.arn for k in plan.use]
    assert target in use
    if held is not None:
        assert held in use  # never narrowed while Atlas holds it
    granted = use + [k.arn for k in plan.retained]
    assert len(granted) == len(set(granted))
    for arn in retained:
        assert arn in granted  # a retained key is never let go


# --- documents --------------------------------------------------------------------------------


def test_one_key_writes_the_same_document_as_before_and_retained_keys_add_a_restore_statement() -> None:
    [one] = role_policy_documents(A, [["198.51.100.7/32"]])
    assert one["Statement"][0]["Resource"] == A and len(one["Statement"]) == 1
    [two] = role_policy_documents(KeyAccess.of([B, A], [C, A]), [["198.51.100.7/32"]])
    use, restore = two["Statement"]
    assert use["Resource"] == [A, B] and use["Action"] == list(USE_ACTIONS)
    assert restore["Resource"] == C and restore["Action"] == list(RESTORE_ACTIONS)
    assert restore["Condition"] == use["Condition"]
    assert restore["Sid"] == "AtlasRestoresRetainedKeys"
    assert policy_size(two) > policy_size(one)


# --- network settings (issue: private networking) ---------------------------------------------


@pytest.mark.parametrize(("config", "says"), [
    ({"network": "vpn"}, "atlas-kms:network: 'vpn' is not one of public, private, both"),
    ({"privateEndpointRegions": ["eu-west-2"]}, "atlas-kms:privateEndpointRegions: only with atlas-kms:network private or both"),
    ({"privateEndpointIds": ["vpce-1"]}, "atlas-kms:privateEndpointIds[0]: 'vpce-1' is not a VPC endpoint id"),
    ({"network": "private", "privateEndpointRegions": ["mars-1"]}, "atlas-kms:privateEndpointRegions[0]: 'mars-1' is not an AWS region Atlas knows"),
    ({"network": "both", "privateEndpointRegions": ["eu-west-2", "EU_WEST_2"]}, "atlas-kms:privateEndpointRegions[1]: 'EU_WEST_2' is listed twice"),
    ({"network": "both", "privateEndpointRegions": ["eu-west-1"]}, "atlas-kms:privateEndpointRegions: EU_WEST_1 is not the key's region (eu-west-2)"),
    ({"network": "private", "privateEndpointIds": ["vpc-123"]}, "atlas-kms:privateEndpointIds[0]: 'vpc-123' is not a VPC endpoint id"),
])
def test_bad_network_settings_are_refused_by_name_with_the_fix(config: dict[str, Any], says: str) -> None:
    with pytest.raises(SettingsError) as exc:
        make(**config)
    assert says in str(exc.value)


def test_private_endpoints_default_to_the_keys_region_and_a_multi_region_key_reaches_its_replicas() -> None:
    assert make(network="private").private_endpoint_regions == ("EU_WEST_2",)
    mrk = "arn:aws:kms:eu-west-2:111122223333:key/mrk-0123456789abcdef0123456789abcdef"
    s = make(network="both", keyArn=mrk, privateEndpointRegions=["eu-west-2", "eu-west-1"])
    assert s.private_endpoint_regions == ("EU_WEST_1", "EU_WEST_2")
    assert s.replica_key_arns == ("arn:aws:kms:eu-west-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef",)
    assert make(network="public").uses_private is False and make(network="both").uses_public is True
    # Pinned ids stay with network public: they keep the grant pinned while the private path is left.
    assert make(privateEndpointIds=["vpce-0a1b2c3d4e5f67890"]).private_endpoint_ids == ("vpce-0a1b2c3d4e5f67890",)
    assert make().private_endpoint_regions == ()


def test_a_private_path_naming_too_many_keys_is_refused_before_anything_is_registered() -> None:
    from core.policies import PolicySizeError, plan_policies

    assert plan_policies([], kind="managed", enforce_ip=True, manage_key_policy=False, public=False, private=(),
                         use_keys=2, restore_keys=20).private is not None
    with pytest.raises(PolicySizeError, match="the private-path policy for 82 keys"):
        plan_policies([], kind="managed", enforce_ip=True, manage_key_policy=False, public=False, private=(),
                      use_keys=2, restore_keys=80)
