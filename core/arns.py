"""ARNs and regions: parsing and the forms Atlas and AWS expect. Pure code."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.atlas_regions import ATLAS_AWS_REGIONS, GOV_ONLY_REGIONS

PARTITIONS = ("aws", "aws-cn", "aws-us-gov")

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_ACCOUNT = re.compile(r"^\d{12}$")
_KEY_ID = re.compile(r"^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
_KMS_ARN = re.compile(
    r"^arn:(?P<partition>[a-z-]+):kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/(?P<key_id>[A-Za-z0-9-]+)$"
)
_ROLE_ARN = re.compile(
    r"^arn:(?P<partition>[a-z-]+):iam::(?P<account>\d{12}):role/(?P<path>(?:[\w+=,.@-]+/)*)(?P<name>[\w+=,.@-]{1,64})$"
)
_LONG_ROLE_NAME = re.compile(
    r"^arn:[a-z-]+:iam::\d{12}:role/(?:[\w+=,.@-]+/)*(?P<name>[\w+=,.@-]{65,})$"
)

# The longest KMS key ARN that AWS can hand out, used to size policies before the key
# exists (a created key's ARN is unknown during `pulumi preview`): the longest
# partition, the longest region name and a multi-Region key id (mrk- + 32 hex).
LONGEST_KEY_ARN = "arn:aws-us-gov:kms:ap-southeast-5x:000000000000:key/mrk-" + "0" * 32


class ArnError(ValueError):
    pass


@dataclass(frozen=True)
class Arn:
    """Any ARN, in its six fields: arn:partition:service:region:account:resource.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html"""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> Arn:
        parts = text.split(":", 5) if isinstance(text, str) else []
        if len(parts) != 6 or parts[0] != "arn" or not parts[1] or not parts[2]:
            raise ArnError(f"{text!r} is not an ARN (arn:partition:service:region:account:resource)")
        return cls(parts[1], parts[2], parts[3], parts[4], parts[5])

    @property
    def name(self) -> str:
        """The last segment of the resource: a role's name, a key's id, a policy's name."""
        return self.resource.rsplit("/", 1)[-1]

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def key_id_of(key: str) -> str:
    """The key id of a KMS key ARN (`arn:...:key/<id>`), or a bare key id as it is."""
    return key.rsplit("key/", 1)[-1] if ":key/" in key else key


def region_of(arn: str) -> str:
    return Arn.parse(arn).region


def account_of(arn: str) -> str:
    return Arn.parse(arn).account


def partition_of_arn(arn: str) -> str:
    return Arn.parse(arn).partition


@dataclass(frozen=True)
class KeyArn:
    partition: str
    region: str
    account: str
    key_id: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:kms:{self.region}:{self.account}:key/{self.key_id}"


@dataclass(frozen=True)
class RoleArn:
    partition: str
    account: str
    name: str
    path: str = "/"  # IAM paths begin and end with "/"

    def __str__(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:role{self.path}{self.name}"

    @property
    def root(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:root"


def is_region(value: str) -> bool:
    return bool(_REGION.fullmatch(value))


def is_account(value: str) -> bool:
    return bool(_ACCOUNT.fullmatch(value))


def parse_key_arn(value: str, setting: str) -> KeyArn:
    """Parse a full KMS key ARN; refuse key ids and aliases with the ARN form to use.

    Atlas needs the full ARN whenever the key and the role are in different accounts,
    and accepts it always, so the program only ever deals in full ARNs.
    https://www.mongodb.com/docs/atlas/security-aws-kms/#prerequisites
    """
    example = "arn:aws:kms:eu-west-2:111122223333:key/12345678-1234-1234-1234-123456789012"
    if not isinstance(value, str) or not value:
        raise ArnError(f"{setting}: expected the full ARN of a KMS key, like {example}")
    if _KEY_ID.fullmatch(value):
        raise ArnError(
            f"{setting}: {value!r} is a bare key id; Atlas needs the key's full ARN, "
            f"arn:<partition>:kms:<region>:<account>:key/{value} (for example {example})"
        )
    if value.startswith("alias/") or ":alias/" in value:
        raise ArnError(
            f"{setting}: {value!r} is an alias; aliases can be re-pointed, so give the key's "
            f"own full ARN (aws kms describe-key --key-id {value} --query KeyMetadata.Arn), like {example}"
        )
    m = _KMS_ARN.fullmatch(value)
    if not m:
        raise ArnError(f"{setting}: {value!r} is not a KMS key ARN; expected the form {example}")
    arn = KeyArn(m["partition"], m["region"], m["account"], m["key_id"])
    if arn.partition not in PARTITIONS:
        raise ArnError(f"{setting}: unknown partition {arn.partition!r} in {value!r}; use one of {', '.join(PARTITIONS)}")
    if not is_region(arn.region):
        raise ArnError(f"{setting}: {arn.region!r} in {value!r} is not an AWS region name")
    if not _KEY_ID.fullmatch(arn.key_id):
        raise ArnError(f"{setting}: {arn.key_id!r} in {value!r} is not a KMS key id (a UUID or mrk-<32 hex>)")
    return arn


def parse_role_arn(value: str, setting: str) -> RoleArn:
    example = "arn:aws:iam::444455556666:role/atlas-kms-admin"
    if not isinstance(value, str):
        raise ArnError(f"{setting}: expected an IAM role ARN, like {example}")
    m = _ROLE_ARN.fullmatch(value)
    if not m:
        long = _LONG_ROLE_NAME.fullmatch(value)
        if long:
            # IAM role names are 1 to 64 characters, so no role has this ARN: it is mistyped.
            # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html#reference_iam-quotas-names
            raise ArnError(f"{setting}: the role name {long['name']!r} is {len(long['name'])} characters; IAM role "
                           f"names are at most 64. Copy the role's ARN from IAM "
                           f"(aws iam get-role --role-name <name> --query Role.Arn), like {example}")
        raise ArnError(f"{setting}: {value!r} is not an IAM role ARN; expected the form {example}")
    if m["partition"] not in PARTITIONS:
        raise ArnError(f"{setting}: unknown partition {m['partition']!r}; use one of {', '.join(PARTITIONS)}")
    return RoleArn(m["partition"], m["account"], m["name"], "/" + m["path"])


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def atlas_partition(gov: bool) -> str:
    """The partition of Atlas's own AWS principal, the one that assumes the role.

    Commercial Atlas runs in `aws`; Atlas for Government is a separate Atlas whose principal is in
    `aws-us-gov`. IAM never lets a principal assume a role in another partition.
    https://docs.aws.amazon.com/govcloud-us/latest/UserGuide/govcloud-iam.html
    https://www.mongodb.com/docs/atlas/government/
    """
    return "aws-us-gov" if gov else "aws"


def atlas_key_region_problem(region: str, gov: bool) -> str | None:
    """Why Atlas cannot use a key in `region`, or None. Checked against Atlas's own region enum."""
    if region not in ATLAS_AWS_REGIONS:
        return f"{region!r} is not a region Atlas accepts for a KMS key (Atlas knows {len(ATLAS_AWS_REGIONS)} AWS regions)"
    if region in GOV_ONLY_REGIONS and not gov:
        return f"{region!r} is served only by Atlas for Government (mongodbatlas:isMongodbgovCloud: true)"
    return None


def atlas_region(region: str) -> str:
    """AWS region name to Atlas's enum name (`eu-west-2` -> `EU_WEST_2`), from Atlas's own table."""
    try:
        return ATLAS_AWS_REGIONS[region]
    except KeyError:
        raise ArnError(f"{region!r} is not a region Atlas accepts for a KMS key") from None
