"""ARNs and regions: the forms Atlas and AWS accept, and the messages for the forms they do not."""

from __future__ import annotations

import pytest

from core.arns import ArnError, atlas_key_region_problem, atlas_region, is_region, parse_key_arn, partition_of

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


def test_a_full_key_arn_is_parsed_into_its_parts() -> None:
    arn = parse_key_arn(f"arn:aws:kms:eu-west-2:111122223333:key/{KEY_ID}", "k")
    assert (arn.partition, arn.region, arn.account, arn.key_id) == ("aws", "eu-west-2", "111122223333", KEY_ID)
    assert str(arn) == f"arn:aws:kms:eu-west-2:111122223333:key/{KEY_ID}"
    assert parse_key_arn(f"arn:aws:kms:eu-west-2:111122223333:key/mrk-{'0' * 32}", "k").key_id == f"mrk-{'0' * 32}"


@pytest.mark.parametrize("key_id", ["not-a-key", "1234", KEY_ID.upper(), f"mrk-{'0' * 31}", f"{KEY_ID}0"])
def test_the_key_id_inside_an_arn_must_be_a_kms_key_id(key_id: str) -> None:
    with pytest.raises(ArnError, match=r"is not a KMS key id \(a UUID or mrk-<32 hex>\)"):
        parse_key_arn(f"arn:aws:kms:eu-west-2:111122223333:key/{key_id}", "atlas-kms:keyArn")


def test_an_alias_arn_gets_the_alias_message_with_the_command_to_find_the_key() -> None:
    with pytest.raises(ArnError, match=r"is an alias; aliases can be re-pointed.*describe-key"):
        parse_key_arn("arn:aws:kms:eu-west-2:111122223333:alias/atlas", "atlas-kms:keyArn")


@pytest.mark.parametrize(("region", "partition"), [
    ("cn-north-1", "aws-cn"), ("cn-northwest-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"),
    ("us-gov-east-1", "aws-us-gov"), ("eu-west-2", "aws"), ("us-east-1", "aws"),
])
def test_the_partition_follows_the_region(region: str, partition: str) -> None:
    assert partition_of(region) == partition


@pytest.mark.parametrize("bad", ["eu-west-2x", "xeu-west-2", "eu-west-", "EU-WEST-2", "eu_west_2", "eu-west-2\n"])
def test_a_region_name_is_matched_whole(bad: str) -> None:
    assert not is_region(bad)


def test_atlas_names_come_from_atlas_own_table_and_unknown_regions_are_refused() -> None:
    assert atlas_region("eu-west-2") == "EU_WEST_2"
    assert atlas_region("ap-east-2") == "AP_EAST_2"
    with pytest.raises(ArnError):
        atlas_region("eu-south-3")  # shaped like a region, not in Atlas's enum
    assert atlas_key_region_problem("us-gov-east-1", gov=True) is None
    assert "only by Atlas for Government" in str(atlas_key_region_problem("us-gov-east-1", gov=False))
    assert "not a region Atlas accepts" in str(atlas_key_region_problem("eu-south-3", gov=False))
