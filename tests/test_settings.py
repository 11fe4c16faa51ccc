"""Stack config -> Settings: defaults, the four key modes, and errors that name the key and the fix."""

from __future__ import annotations

from typing import Any

import pytest

from config.settings import Mode, SettingsError, parse_settings
from core.ips import SourceSelection

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
