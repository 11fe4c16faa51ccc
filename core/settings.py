"""The program's settings as a domain model: what the stack asks for, typed, and what follows from it.

Pure code, no Pulumi import. `config/` parses stack config or the component's Args into `Settings`;
the plan (`core/plan.py`), the drift command and the simulator read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

from core.arns import KeyArn, RoleArn, atlas_region
from core.atlas_regions import ATLAS_AWS_REGIONS
from core.ips import SourceSelection

NAMESPACE = "atlas-kms"
PROGRAM = "atlas-kms"
# How Atlas reaches KMS: over the internet from its addresses, over AWS PrivateLink, or both (the move).
# https://www.mongodb.com/docs/atlas/security/aws-kms-over-private-endpoint/
NETWORKS = ("public", "private", "both")
# KMS automatic rotation period bounds and default.
# https://docs.aws.amazon.com/kms/latest/developerguide/rotating-keys-enable.html
ROTATION_PERIOD_MIN_DAYS, ROTATION_PERIOD_MAX_DAYS, ROTATION_PERIOD_DEFAULT_DAYS = 90, 2560, 365
# A bound on created key generations, so that a typo (keyGeneration: 2000) cannot create thousands of keys.
MAX_KEY_GENERATION = 100
# Tags the component puts on the key and the role; the drift command checks the role by them.
TAG_PROJECT = "atlas-kms:project-id"
TAG_STACK = "atlas-kms:stack"
TAG_PROGRAM = "atlas-kms:managed-by"


class Mode(Enum):
    """The four ways the key and the role can sit (see README, "Key modes")."""

    SAME_ACCOUNT_CREATED = 1
    SAME_ACCOUNT_EXISTING = 2
    CROSS_ACCOUNT_CREATED = 3
    CROSS_ACCOUNT_EXISTING = 4


@dataclass(frozen=True)
class KeyAccount:
    """How to reach the AWS account that holds the key, when it is not the role's."""

    assume_role_arn: str | None
    account_id: str
    profile: str | None
    region: str | None
    external_id: str | None
    manage_key_policy: bool
    key_policy_granted: bool = False


@dataclass(frozen=True)
class Adoption:
    """First contact with encryption at rest the program did not set up (`adopt` stack setting).

    `role_arn`: take over the IAM role Atlas uses (imported, with its setup and encryption at rest);
    `move_from`: make the stack's own role and move Atlas to it, leaving that role to its owner.
    """

    role_arn: RoleArn | None = None
    move_from: RoleArn | None = None

    @property
    def role(self) -> RoleArn:
        found = self.role_arn or self.move_from
        assert found is not None
        return found


@dataclass(frozen=True)
class Alerts:
    """Atlas's own alarms on the key (`alerts` stack setting): who hears when Atlas cannot use it."""

    enabled: bool = True
    emails: tuple[str, ...] = ()
    roles: tuple[str, ...] = ("GROUP_OWNER",)
    # Kept out of repr and logs: a webhook URL often embeds its own credential.
    webhook_url: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Settings:
    project_id: str
    stack: str
    role_region: str
    role_account: str | None
    partition: str
    key_region: str
    key_arn: KeyArn | None
    key_account: KeyAccount | None
    selection: SourceSelection
    enforce_ip: bool
    # Atlas for Government (`mongodbatlas:isMongodbgovCloud`): its principal lives in aws-us-gov.
    atlas_gov: bool = False
    # Encrypt Atlas Search nodes with the key too. The provider sends `false` when this is omitted,
    # which leaves search indexes without the customer key (and turns it off if enabled by hand).
    enabled_for_search_nodes: bool = True
    alerts: Alerts = field(default_factory=Alerts)
    # Keys Atlas no longer uses whose snapshots may still need them (`retainedKeyArns`).
    retained_key_arns: tuple[KeyArn, ...] = ()
    # The generation of the key this program creates (`keyGeneration`); earlier ones are kept.
    key_generation: int = 1
    # Created generations released from Atlas's access (`retiredKeyGenerations`); never deleted.
    retired_generations: tuple[int, ...] = ()
    # KMS automatic rotation period of created keys (`rotationPeriodInDays`).
    rotation_period_days: int = ROTATION_PERIOD_DEFAULT_DAYS
    # `network`: public (Atlas's addresses), private (PrivateLink only) or both (the move between them).
    network: str = "public"
    # Atlas regions (enum names) of the KMS private endpoints; the key's region unless set.
    private_endpoint_regions: tuple[str, ...] = ()
    # `privateEndpointIds`: vpce- ids to pin aws:SourceVpce to, when the user knows Atlas's endpoints.
    private_endpoint_ids: tuple[str, ...] = ()
    # `adopt`: how the first run takes over encryption at rest set up by hand or by another tool.
    adopt: Adoption | None = None

    @property
    def uses_public(self) -> bool:
        return self.network in ("public", "both")

    @property
    def uses_private(self) -> bool:
        return self.network in ("private", "both")

    @property
    def replica_key_arns(self) -> tuple[str, ...]:
        """ARNs of a multi-region key's replicas in the other endpoint regions (same key id, another region).

        A private endpoint in another region reaches the key's replica there, so the policies name each.
        https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html
        """
        if self.key_arn is None or not self.uses_private:
            return ()
        regions = {r for r, enum in ATLAS_AWS_REGIONS.items() if enum in self.private_endpoint_regions}
        return tuple(sorted(f"arn:{self.key_arn.partition}:kms:{r}:{self.key_arn.account}:key/{self.key_arn.key_id}"
                            for r in regions if r != self.key_region))

    @property
    def mode(self) -> Mode:
        cross = self.key_account is not None or (
            self.key_arn is not None and self.role_account is not None and self.key_arn.account != self.role_account
        )
        if self.key_arn is None:
            return Mode.CROSS_ACCOUNT_CREATED if cross else Mode.SAME_ACCOUNT_CREATED
        return Mode.CROSS_ACCOUNT_EXISTING if cross else Mode.SAME_ACCOUNT_EXISTING

    @property
    def cross_account(self) -> bool:
        return self.mode in (Mode.CROSS_ACCOUNT_CREATED, Mode.CROSS_ACCOUNT_EXISTING)

    @property
    def creates_key(self) -> bool:
        return self.key_arn is None

    @property
    def manages_key_policy(self) -> bool:
        """The program writes the key policy of keys it creates, and of a foreign key only on opt-in."""
        if self.creates_key:
            return True
        return self.mode is Mode.CROSS_ACCOUNT_EXISTING and bool(self.key_account and self.key_account.manage_key_policy)

    @property
    def enables_encryption(self) -> bool:
        """False only while a foreign key's owner has not yet added the hand-off statement.

        Atlas validates the key the moment encryption at rest is configured, so enabling it
        before the owner grants access would fail the update.
        """
        if self.mode is not Mode.CROSS_ACCOUNT_EXISTING or self.manages_key_policy:
            return True
        return bool(self.key_account and self.key_account.key_policy_granted)

    @property
    def needs_key_provider(self) -> bool:
        """A second AWS provider, only to reach another account (regions are per resource in pulumi-aws 7)."""
        return self.key_account is not None and self.key_account.assume_role_arn is not None

    @property
    def policy_kind(self) -> Literal["managed", "inline"]:
        # Cross-account: an inline policy in the role's account, as MongoDB's docs say.
        # Same account: a managed policy, the form Atlas's docs describe for IP conditions.
        # https://www.mongodb.com/docs/atlas/security-aws-kms/#prerequisites
        return "inline" if self.cross_account else "managed"

    @property
    def atlas_region(self) -> str:
        return atlas_region(self.key_region)

    @property
    def key_alias(self) -> str:
        return self.generation_alias(1)

    def generation_alias(self, generation: int) -> str:
        """The alias of a created key generation: the first keeps the original name, so that existing
        stacks keep their alias; later ones get a suffix. The program finds its own earlier
        generations by these names.

        Alias names: letters, digits, '/', '_' and '-'; unique per account and region.
        https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html#API_CreateAlias_RequestSyntax
        """
        stack = re.sub(r"[^A-Za-z0-9/_-]", "-", self.stack)
        base = f"alias/atlas-kms/{self.project_id}/{stack}"
        return base if generation == 1 else f"{base}/gen-{generation}"

    @property
    def tags(self) -> dict[str, str]:
        return {TAG_PROJECT: self.project_id, TAG_STACK: self.stack, TAG_PROGRAM: PROGRAM}


