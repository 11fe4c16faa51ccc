"""Stack config -> Settings: defaults, the four key modes, and errors that name the key and the fix."""

from __future__ import annotations

from typing import Any

import pytest

from config.settings import SettingsError, parse_settings
from core.ips import SourceSelection
from core.settings import Mode

PROJECT = "6f1e2d3c4b5a697887766554"
ROLE_ACCOUNT = "111122223333"
KEY_ACCOUNT = "444455556666"
SAME_KEY = f"arn:aws:kms:eu-west-2:{ROLE_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
FOREIGN_KEY = f"arn:aws:kms:eu-west-2:{KEY_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ASSUME = f"arn:aws:iam::{KEY_ACCOUNT}:role/atlas-kms-key-admin"


def parse(extra: dict[str, Any] | None = None, *, region: str | None = "eu-west-2", account: str | None = ROLE_ACCOUNT):
    config = {"atlas-kms:projectId": PROJECT, **(extra or {})}
    return parse_settings(config, stack="prod", aws_region=region, role_account=account, role_partition="aws")


def problems(extra: dict[str, Any], **kwargs: Any) -> list[str]:
    with pytest.raises(SettingsError) as err:
        parse(extra, **kwargs)
    return err.value.problems


def test_defaults_create_a_key_in_the_role_account_and_allow_every_atlas_source() -> None:
    s = parse()
    assert s.mode is Mode.SAME_ACCOUNT_CREATED
    assert s.key_region == "eu-west-2" and s.atlas_region == "EU_WEST_2"
    assert s.selection == SourceSelection()
    assert s.enforce_ip and s.manages_key_policy and not s.needs_key_provider
    assert s.policy_kind == "managed"
    assert s.key_alias == f"alias/atlas-kms/{PROJECT}/prod"
    assert s.tags == {"atlas-kms:project-id": PROJECT, "atlas-kms:stack": "prod", "atlas-kms:managed-by": "atlas-kms"}


def test_an_existing_key_in_the_role_account_is_mode_two() -> None:
    s = parse({"atlas-kms:keyArn": SAME_KEY})
    assert s.mode is Mode.SAME_ACCOUNT_EXISTING
    assert not s.manages_key_policy and s.policy_kind == "managed" and s.enables_encryption


def test_a_key_created_through_key_account_is_mode_three_with_its_own_provider() -> None:
    s = parse({"atlas-kms:keyAccount": f'{{"assumeRoleArn": "{ASSUME}", "externalId": "prod-kms"}}'})
    assert s.mode is Mode.CROSS_ACCOUNT_CREATED
    assert s.needs_key_provider and s.manages_key_policy and s.policy_kind == "inline"
    assert s.key_account is not None and s.key_account.account_id == KEY_ACCOUNT


def test_an_existing_key_of_another_account_is_mode_four_and_is_not_ours_to_edit() -> None:
    s = parse({"atlas-kms:keyArn": FOREIGN_KEY})
    assert s.mode is Mode.CROSS_ACCOUNT_EXISTING
    assert not s.manages_key_policy and not s.enables_encryption and s.policy_kind == "inline"
    granted = parse({"atlas-kms:keyArn": FOREIGN_KEY, "atlas-kms:keyAccount": {"keyPolicyGranted": True}})
    assert granted.enables_encryption and not granted.manages_key_policy


def test_mode_four_manages_the_key_policy_only_on_explicit_opt_in() -> None:
    s = parse({"atlas-kms:keyArn": FOREIGN_KEY, "atlas-kms:keyAccount": {"assumeRoleArn": ASSUME, "manageKeyPolicy": True}})
    assert s.mode is Mode.CROSS_ACCOUNT_EXISTING and s.manages_key_policy and s.enables_encryption


def test_yaml_typed_values_and_engine_strings_mean_the_same() -> None:
    as_yaml = parse({"atlas-kms:sourceIps": {"controlPlane": ["gcp", "aws"], "includeFuture": False}})
    as_string = parse({"atlas-kms:sourceIps": '{"controlPlane": ["aws", "gcp"], "includeFuture": false}'})
    assert as_yaml.selection == as_string.selection == SourceSelection(control_plane=("aws", "gcp"), include_future=False)


def test_key_region_defaults_to_the_key_arn_and_must_agree_with_key_region() -> None:
    assert parse({"atlas-kms:keyArn": SAME_KEY}, region="us-east-1").key_region == "eu-west-2"
    [problem] = problems({"atlas-kms:keyArn": SAME_KEY, "atlas-kms:keyRegion": "eu-west-1"})
    assert problem.startswith("atlas-kms:keyRegion: region 'eu-west-1' disagrees with atlas-kms:keyArn")


@pytest.mark.parametrize(
    ("extra", "kwargs", "starts", "mentions"),
    [
        ({"atlas-kms:projectId": "abc"}, {}, "atlas-kms:projectId:", "24 lowercase hex"),
        ({"atlas-kms:projectId": None}, {}, "atlas-kms:projectId: required", "pulumi config set"),
        ({"atlas-kms:keyArn": "1234abcd-12ab-34cd-56ef-1234567890ab"}, {}, "atlas-kms:keyArn:", "arn:<partition>:kms:<region>:<account>:key/1234abcd"),
        ({"atlas-kms:keyArn": "alias/atlas"}, {}, "atlas-kms:keyArn:", "aws kms describe-key"),
        ({"atlas-kms:keyArn": "arn:aws:kms:eu-west-2:1111:key/x"}, {}, "atlas-kms:keyArn:", "expected the form"),
        ({"atlas-kms:keyArn": FOREIGN_KEY.replace("arn:aws:", "arn:aws-cn:")}, {}, "atlas-kms:keyArn: partition 'aws-cn'", "role's partition 'aws'"),
        ({"atlas-kms:keyRegion": "mars-1"}, {}, "atlas-kms:keyRegion:", "not an AWS region"),
        ({}, {"region": None}, "aws:region: required", "pulumi config set aws:region"),
        ({"atlas-kms:keyAcount": "x"}, {}, "atlas-kms:keyAcount: unknown setting", "allowed: projectId"),
        ({"atlas-kms:sourceIps": {"controlPlane": ["aws", "oracle"]}}, {}, "atlas-kms:sourceIps.controlPlane: unknown cloud", "aws, azure, gcp"),
        ({"atlas-kms:sourceIps": {"controlPlane": []}}, {}, "atlas-kms:sourceIps.controlPlane: an empty list", '"all"'),
        ({"atlas-kms:sourceIps": {"clusters": "orders"}}, {}, "atlas-kms:sourceIps.clusters: expected a list", "orders"),
        ({"atlas-kms:sourceIps": {"clusters": ["bad name"]}}, {}, "atlas-kms:sourceIps.clusters:", "cluster names"),
        ({"atlas-kms:sourceIps": {"extraCidrs": ["10.0.0.1/24"]}}, {}, "atlas-kms:sourceIps.extraCidrs[0]:", "did you mean 10.0.0.0/24"),
        ({"atlas-kms:sourceIps": {"extraCidrs": "10.0.0.0/24"}}, {}, "atlas-kms:sourceIps.extraCidrs: expected a list", ""),
        ({"atlas-kms:sourceIps": {"includeFuture": "yes"}}, {}, "atlas-kms:sourceIps.includeFuture: expected true or false", ""),
        ({"atlas-kms:sourceIps": {"future": True}}, {}, "atlas-kms:sourceIps.future: unknown setting", "includeFuture"),
        ({"atlas-kms:sourceIps": "{not json"}, {}, "atlas-kms:sourceIps: not valid JSON", "--path"),
        ({"atlas-kms:keyAccount": {"assumeRoleArn": "arn:aws:iam::111122223333:user/bob"}}, {}, "atlas-kms:keyAccount.assumeRoleArn:", "IAM role ARN"),
        ({"atlas-kms:keyAccount": {"assumeRoleArn": "arn:aws:iam::111122223333:role/kms"}}, {}, "atlas-kms:keyAccount.assumeRoleArn: account 111122223333 is the role's own account", "remove"),
        ({"atlas-kms:keyAccount": {"profile": "security"}}, {}, "atlas-kms:keyAccount.assumeRoleArn: required", "keyArn"),
        ({"atlas-kms:keyAccount": {"assumeRoleArn": ASSUME, "manageKeyPolicy": True}}, {}, "atlas-kms:keyAccount.manageKeyPolicy: only for an existing key", ""),
        ({"atlas-kms:keyArn": FOREIGN_KEY, "atlas-kms:keyAccount": {"manageKeyPolicy": True}}, {}, "atlas-kms:keyAccount.manageKeyPolicy: needs", "assumeRoleArn"),
        ({"atlas-kms:keyArn": FOREIGN_KEY, "atlas-kms:keyAccount": {"assumeRoleArn": "arn:aws:iam::777788889999:role/kms"}}, {}, "atlas-kms:keyAccount.assumeRoleArn: account 777788889999 does not hold the key", ""),
        ({"atlas-kms:keyArn": SAME_KEY, "atlas-kms:keyAccount": {"keyPolicyGranted": True}}, {}, "atlas-kms:keyAccount: the key", "nothing is cross-account"),
        ({"atlas-kms:keyAccount": {"assumeRoleArn": ASSUME, "keyPolicyGranted": True}}, {}, "atlas-kms:keyAccount.keyPolicyGranted: only for an existing key", "remove"),
        ({"atlas-kms:keyAccount": {"assumeRoleArn": ASSUME, "region": "us-east-1"}, "atlas-kms:keyRegion": "eu-west-2"}, {}, "atlas-kms:keyAccount.region: region 'us-east-1' disagrees", ""),
        ({"atlas-kms:keyAccount": {"assumeRoleArn": ASSUME, "colour": "blue"}}, {}, "atlas-kms:keyAccount.colour: unknown setting", "assumeRoleArn"),
        ({"atlas-kms:keyAccount": "arn:aws:iam::444455556666:role/x"}, {}, "atlas-kms:keyAccount: expected an object", ""),
        # Newcomer findings: each message names what the user wrote and how to fix it.
        ({"atlas-kms:projectId": 123456789012345678901234}, {}, "atlas-kms:projectId: YAML read", 'quote the id'),
        ({"atlas-kms:sourceIps": {"controlPlane": "oracle"}}, {}, "atlas-kms:sourceIps.controlPlane: 'oracle' is neither", '"all"'),
        ({"atlas-kms:sourceIps": {"controlPlane": "aws"}}, {}, "atlas-kms:sourceIps.controlPlane: 'aws' is not", "like [aws]"),
        ({"atlas-kms:sourceIps": ""}, {}, "atlas-kms:sourceIps: is set but empty", "pulumi config rm"),
        ({"atlas-kms:sourceIps": {"clusters": ["orders", "orders"]}}, {}, "atlas-kms:sourceIps.clusters:", "lists a cluster twice"),
        ({"atlas-kms:keyArn": FOREIGN_KEY, "atlas-kms:keyAccount": {"externalId": "atlas-kms-prod"}}, {}, "atlas-kms:keyAccount.externalId: only used with", "assumeRoleArn"),
        ({"atlas-kms:keyAccount": {"assumeRoleArn": ASSUME, "externalId": "x"}}, {}, "atlas-kms:keyAccount.externalId: 2 to 1224", ""),
        ({"atlas-kms:enabledForSearchNodes": "sometimes"}, {}, "atlas-kms:enabledForSearchNodes: expected true or false", ""),
        # Atlas's own region enum decides, not the shape of the name.
        ({"atlas-kms:keyRegion": "eu-south-3"}, {}, "atlas-kms:keyRegion: the key's region 'eu-south-3' is not a region Atlas accepts", ""),
        ({"atlas-kms:keyArn": SAME_KEY.replace("eu-west-2", "us-gov-west-1").replace("arn:aws:", "arn:aws-us-gov:")}, {}, "atlas-kms:keyArn: partition 'aws-us-gov'", ""),
    ],
)
def test_each_bad_value_is_reported_with_its_key_and_the_fix(extra, kwargs, starts: str, mentions: str) -> None:
    found = problems(extra, **kwargs)
    assert any(p.startswith(starts) and mentions in p for p in found), found


def test_all_problems_are_reported_at_once() -> None:
    found = problems({"atlas-kms:projectId": "x", "atlas-kms:keyRegion": "nowhere", "atlas-kms:typo": 1})
    assert [p.split(":")[1] for p in found] == ["typo", "projectId", "keyRegion"]
    with pytest.raises(SettingsError, match="nothing was changed"):
        parse({"atlas-kms:projectId": "x"})


def test_include_future_stays_on_when_source_ips_is_set_without_it() -> None:
    assert parse({"atlas-kms:sourceIps": {"clusters": ["orders"]}}).selection.include_future is True
    assert parse({"atlas-kms:sourceIps": {"includeFuture": False}}).selection.include_future is False


def test_the_alias_name_is_sanitised_from_the_stack_name() -> None:
    s = parse_settings({"atlas-kms:projectId": PROJECT}, stack="prod.eu west", aws_region="eu-west-2",
                       role_account=ROLE_ACCOUNT, role_partition="aws")
    assert s.key_alias == f"alias/atlas-kms/{PROJECT}/prod-eu-west"


def test_the_key_region_converts_to_atlas_names_through_atlas_table() -> None:
    assert parse({"atlas-kms:keyRegion": "ap-southeast-7"}).atlas_region == "AP_SOUTHEAST_7"
    assert parse({"atlas-kms:keyRegion": "mx-central-1"}).atlas_region == "MX_CENTRAL_1"


def test_search_nodes_are_encrypted_unless_turned_off() -> None:
    assert parse().enabled_for_search_nodes is True
    assert parse({"atlas-kms:enabledForSearchNodes": "false"}).enabled_for_search_nodes is False


# Partitions: Atlas's principal, the role and the key must share one ----------------------------


def gov(extra: dict[str, Any] | None = None, *, region: str = "us-gov-west-1", partition: str | None = "aws-us-gov",
        atlas_gov: Any = "true") -> Any:
    config = {"atlas-kms:projectId": PROJECT, **(extra or {})}
    return parse_settings(config, stack="prod", aws_region=region, role_account=ROLE_ACCOUNT,
                          role_partition=partition, atlas_gov=atlas_gov)


def test_atlas_for_government_works_with_a_govcloud_role_and_key() -> None:
    s = gov()
    assert s.atlas_gov is True and s.partition == "aws-us-gov" and s.atlas_region == "US_GOV_WEST_1"


def test_commercial_atlas_with_a_govcloud_role_names_the_gov_setting_and_the_partition() -> None:
    with pytest.raises(SettingsError) as err:
        gov(atlas_gov=None)
    [problem] = err.value.problems
    assert problem.startswith("mongodbatlas:isMongodbgovCloud (the component's isMongodbgovCloud input): commercial Atlas")
    assert "'aws-us-gov'" in problem and "set mongodbatlas:isMongodbgovCloud: true" in problem


def test_atlas_for_government_with_a_commercial_role_names_the_gov_setting_and_the_partition() -> None:
    with pytest.raises(SettingsError) as err:
        gov(region="eu-west-2", partition="aws")
    [problem] = err.value.problems
    assert problem.startswith("mongodbatlas:isMongodbgovCloud (the component's isMongodbgovCloud input): true means Atlas for Government")
    assert "'aws-us-gov'" in problem and "role is in 'aws'" in problem


def test_without_credentials_the_partition_follows_aws_region_and_the_error_says_so() -> None:
    with pytest.raises(SettingsError) as err:
        parse_settings({"atlas-kms:projectId": PROJECT}, stack="prod", aws_region="us-gov-east-1")
    assert any("aws:region 'us-gov-east-1'" in p for p in err.value.problems), err.value.problems


def test_a_gov_only_region_on_commercial_atlas_blames_the_setting_that_named_it() -> None:
    found = problems({"atlas-kms:keyRegion": "us-gov-west-1"})
    assert found == ["atlas-kms:keyRegion: region 'us-gov-west-1' is in partition 'aws-us-gov', the role in 'aws'; pick a region of the role's partition"]


def test_a_region_error_never_blames_key_region_when_it_was_not_set() -> None:
    found = problems({}, region="cn-north-1")
    assert not any(p.startswith("atlas-kms:keyRegion") for p in found), found
    assert any(p.startswith("aws:region: region 'cn-north-1'") for p in found), found


# Source addresses that can never be Atlas's --------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("0.0.0.0/0", "wider than /16"),
        ("0.0.0.0/1", "wider than /16"),
        ("128.0.0.0/1", "wider than /16"),
        ("::/0", "wider than /48"),
        ("2600::/12", "wider than /48"),
        ("10.1.0.0/16", "private range 10.0.0.0/8"),
        ("172.20.1.5", "private range 172.16.0.0/12"),
        ("192.168.0.10/32", "private range 192.168.0.0/16"),
        ("100.64.3.4", "shared address space"),
        ("127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.251", "multicast"),
        ("fe80::1", "link-local"),
        ("fd00::1", "unique local"),
        ("ff02::1", "multicast"),
    ],
)
def test_extra_cidrs_refuse_ranges_atlas_never_calls_from(entry: str, says: str) -> None:
    [problem] = problems({"atlas-kms:sourceIps": {"extraCidrs": [entry]}})
    assert problem.startswith("atlas-kms:sourceIps.extraCidrs[0]: ") and says in problem, problem


def test_a_wide_extra_range_needs_the_explicit_setting_and_a_private_one_is_never_allowed() -> None:
    wide = {"extraCidrs": ["128.0.0.0/1"]}
    [problem] = problems({"atlas-kms:sourceIps": wide})
    assert "set atlas-kms:sourceIps.allowWideCidrs: true" in problem
    s = parse({"atlas-kms:sourceIps": {**wide, "allowWideCidrs": True}})
    assert s.selection.allow_wide is True and s.selection.extra_cidrs == ("128.0.0.0/1",)
    assert problems({"atlas-kms:sourceIps": {"extraCidrs": ["10.0.0.0/8"], "allowWideCidrs": True}})


def test_extra_ranges_that_merge_into_a_wide_one_need_the_setting_too() -> None:
    [problem] = problems({"atlas-kms:sourceIps": {"extraCidrs": ["3.0.0.0/16", "3.1.0.0/16"]}})
    assert problem.startswith("atlas-kms:sourceIps.extraCidrs: the entries merge into 3.0.0.0/15")
    assert parse({"atlas-kms:sourceIps": {"extraCidrs": ["3.0.0.0/16", "3.1.0.0/16"], "allowWideCidrs": True}})


def test_a_webhook_kept_secret_in_the_stack_file_counts_as_set() -> None:
    from config.settings import SECRET_IN_STACK_FILE

    s = parse({"atlas-kms:alerts": {"webhookUrl": SECRET_IN_STACK_FILE}})
    assert s.alerts.webhook_url == SECRET_IN_STACK_FILE and s.alerts.roles == ()


def test_an_alerts_value_that_is_not_an_object_is_not_printed() -> None:
    [problem] = problems({"atlas-kms:alerts": "https://hooks.example.com/T0K3N"})
    assert "T0K3N" not in problem and "got a str" in problem


# Boundaries and first-pass checks -------------------------------------------------------------


@pytest.mark.parametrize(("extra", "starts", "mentions"), [
    # Atlas project ids are 24 hex characters exactly (an ObjectId); one more is a paste error.
    ({"atlas-kms:projectId": PROJECT + "0"}, "atlas-kms:projectId:", "24 lowercase hex characters"),
    # Atlas cluster names are at most 64 characters.
    ({"atlas-kms:sourceIps": {"clusters": ["c" * 65]}}, "atlas-kms:sourceIps.clusters:", "at most 64"),
    # IAM role names are at most 64 characters: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
    ({"atlas-kms:keyAccount": {"assumeRoleArn": f"arn:aws:iam::{KEY_ACCOUNT}:role/" + "r" * 65}},
     "atlas-kms:keyAccount.assumeRoleArn:", "at most 64"),
    ({"atlas-kms:keyAccount": {"assumeRoleArn": f"arn:aws:iam::{KEY_ACCOUNT}:role/ops/" + "r" * 65}},
     "atlas-kms:keyAccount.assumeRoleArn:", "at most 64"),
    ({"atlas-kms:sourceIps": {"controlPlane": ["aws", "gcp", "aws"]}}, "atlas-kms:sourceIps.controlPlane:", "list each cloud once"),
    ({"atlas-kms:keyArn": FOREIGN_KEY, "atlas-kms:keyAccount": {"assumeRoleArn": ASSUME, "manageKeyPolicy": True,
                                                                "keyPolicyGranted": True}},
     "atlas-kms:keyAccount.keyPolicyGranted:", "remove it"),
])
def test_a_value_just_past_its_limit_is_refused_naming_the_setting_and_the_fix(extra, starts: str, mentions: str) -> None:
    found = problems(extra)
    assert any(p.startswith(starts) and mentions in p for p in found), found


def test_values_exactly_at_their_limit_are_accepted() -> None:
    s = parse({"atlas-kms:sourceIps": {"clusters": ["c" * 64]},
               "atlas-kms:keyAccount": {"assumeRoleArn": f"arn:aws:iam::{KEY_ACCOUNT}:role/ops/" + "r" * 64}})
    assert s.selection.clusters == ("c" * 64,)
    assert s.key_account is not None and s.key_account.account_id == KEY_ACCOUNT


def test_the_reserved_range_is_refused_in_extra_cidrs_even_with_allow_wide_cidrs() -> None:
    for entry in ("240.0.0.0/4", "250.1.2.0/24"):
        for allow in (False, True):
            [problem] = problems({"atlas-kms:sourceIps": {"extraCidrs": [entry], "allowWideCidrs": allow}})
            assert problem.startswith("atlas-kms:sourceIps.extraCidrs[0]: ") and "reserved range 240.0.0.0/4" in problem
            assert "remove the entry" in problem


def test_ipv6_extra_cidrs_that_merge_wider_than_a_48_need_allow_wide_cidrs() -> None:
    adjacent = ["2600:1f00::/48", "2600:1f00:1::/48"]
    [problem] = problems({"atlas-kms:sourceIps": {"extraCidrs": adjacent}})
    assert problem.startswith("atlas-kms:sourceIps.extraCidrs: the entries merge into 2600:1f00::/47")
    assert "set atlas-kms:sourceIps.allowWideCidrs: true" in problem
    s = parse({"atlas-kms:sourceIps": {"extraCidrs": adjacent, "allowWideCidrs": True}})
    assert s.selection.allow_wide and s.selection.extra_cidrs == tuple(adjacent)
    # Two /48s that do not touch stay two /48s: nothing wider lands in the policy.
    assert parse({"atlas-kms:sourceIps": {"extraCidrs": ["2600:1f00::/48", "2600:1f00:2::/48"]}})


def test_on_the_first_pass_a_key_account_role_of_another_partition_is_refused_from_aws_region() -> None:
    # The first pass runs before the AWS provider is asked (no credentials yet): aws:region alone fixes
    # the partition, and a role of another partition can never be assumed from it.
    config = {"atlas-kms:projectId": PROJECT,
              "atlas-kms:keyAccount": {"assumeRoleArn": ASSUME.replace("arn:aws:", "arn:aws-us-gov:")}}
    with pytest.raises(SettingsError) as err:
        parse_settings(config, stack="prod", aws_region="eu-west-2", region_pending=True)
    assert err.value.problems == ["atlas-kms:keyAccount.assumeRoleArn: partition 'aws-us-gov' differs from the role's partition 'aws'"]
    # Without aws:region nothing is known yet: the second pass (with the provider's region) decides.
    assert parse_settings(config, stack="prod", aws_region=None, region_pending=True)


# Key generations and private endpoint ids ------------------------------------------------------


def test_the_generation_atlas_is_to_use_cannot_be_retired_while_the_program_creates_it() -> None:
    [problem] = problems({"atlas-kms:keyGeneration": 2, "atlas-kms:retiredKeyGenerations": [2]})
    assert problem.startswith("atlas-kms:retiredKeyGenerations: generation 2 is atlas-kms:keyGeneration")
    assert problems({"atlas-kms:retiredKeyGenerations": [1]})  # keyGeneration is 1 by default


def test_after_moving_to_an_existing_key_every_created_generation_can_be_retired() -> None:
    # With keyArn no generation is the key Atlas is to use: keyGeneration (1 by default) is only the
    # last one the stack created, and no snapshot may need it any more.
    assert parse({"atlas-kms:keyArn": SAME_KEY, "atlas-kms:retiredKeyGenerations": [1]}).retired_generations == (1,)
    s = parse({"atlas-kms:keyArn": SAME_KEY, "atlas-kms:keyGeneration": 2, "atlas-kms:retiredKeyGenerations": [2, 1]})
    assert s.retired_generations == (1, 2)


@pytest.mark.parametrize("ids", [["vpce-1a2b3c4d"], ["vpce-0a1b2c3d4e5f67890"], ["vpce-0a1b2c3d4e5f67890", "vpce-1a2b3c4d"]])
def test_vpc_endpoint_ids_of_both_lengths_aws_issues_are_accepted(ids: list[str]) -> None:
    # AWS's VPC endpoint ids: the older 8 hex characters (vpce-1a2b3c4d) and the current 17.
    s = parse({"atlas-kms:network": "private", "atlas-kms:privateEndpointIds": ids})
    assert s.private_endpoint_ids == tuple(sorted(ids))


@pytest.mark.parametrize("entry", ["vpce-1a2b3c4", "vpce-0a1b2c3d4e5f678901", "vpce-1A2B3C4D", "vpc-1a2b3c4d"])
def test_anything_else_is_not_a_vpc_endpoint_id(entry: str) -> None:
    [problem] = problems({"atlas-kms:network": "private", "atlas-kms:privateEndpointIds": [entry]})
    assert problem.startswith(f"atlas-kms:privateEndpointIds[0]: {entry!r} is not a VPC endpoint id")
