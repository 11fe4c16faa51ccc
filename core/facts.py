"""What the program reads from Atlas and AWS before it plans, as plain typed data. Pure code.

`components/lookups.py` gathers these through the providers' data sources and the Atlas client
(facts/atlas_api.py); `core/plan.py` decides from them; the drift command and the simulator read the
same types.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core.ips import ClusterAddresses
from core.lifecycle import AtlasEncryption

# The Atlas feature whose role this program serves (cloudProviderAccess featureUsages[].featureType).
ENCRYPTION_AT_REST_FEATURE = "ENCRYPTION_AT_REST"


@dataclass(frozen=True)
class Snapshot:
    """One retained snapshot as Atlas lists it (only the fields the verdict needs)."""

    cluster: str
    id: str
    created_at: str
    expires_at: str | None
    key_id: str | None  # masterKeyUUID: absent for a snapshot taken without a customer key


@dataclass(frozen=True)
class AtlasRole:
    """One AWS IAM role Atlas has for the project (cloudProviderAccess `awsIamRoles[]`).

    https://www.mongodb.com/docs/api/doc/atlas-admin-api-v2/operation/operation-listgroupcloudprovideraccess
    """

    role_id: str
    iam_role_arn: str | None  # None until the role is authorized
    features: tuple[str, ...] = ()  # featureUsages[].featureType: ENCRYPTION_AT_REST, EXPORT_SNAPSHOT, PUSH_BASED_LOG_EXPORT, ...
    external_id: str = ""

    @property
    def serves_encryption(self) -> bool:
        return ENCRYPTION_AT_REST_FEATURE in self.features


@dataclass(frozen=True)
class PrivateEndpointState:
    """One KMS private endpoint Atlas has for the project, as Atlas reports it."""

    region: str
    status: str
    error: str = ""


@dataclass(frozen=True)
class Identity:
    """The AWS credentials the program runs with: the role's account, partition and default region."""

    account: str
    partition: str
    region: str | None


@dataclass(frozen=True)
class RoleFact:
    """An IAM role as IAM reports it (GetRole)."""

    arn: str
    name: str
    path: str
    trust_policy: dict[str, Any] | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AdoptionFacts:
    """Read only on first contact with `adopt.roleArn`: the role to take over, and what Atlas expects of it
    (its principal and the external id of the Atlas role, from get_cloud_provider_access_setup)."""

    role: RoleFact | None
    atlas_principal: str
    external_id: str


@dataclass(frozen=True)
class Facts:
    """Everything one run reads before anything is planned.

    `project_known` is False in a preview that creates the Atlas project: then only the control plane is
    read and the project holds nothing.
    """

    control_plane: dict[str, dict[str, list[str]]]
    clusters: tuple[ClusterAddresses, ...] = ()
    project_known: bool = True
    atlas: AtlasEncryption = field(default_factory=AtlasEncryption)
    # Created key generations found by their aliases: generation -> key ARN.
    created_generations: dict[int, str] = field(default_factory=dict)
    endpoints: tuple[PrivateEndpointState, ...] = ()
    # ARNs of roles of this stack Atlas uses now (the old role while a replaced one takes over).
    stack_roles: tuple[str, ...] = ()
    # The roles Atlas has for the project; None when they were not read (the project is new).
    atlas_roles: tuple[AtlasRole, ...] | None = None
    # adopt.roleArn on first contact: the role and Atlas's expectations of it.
    adoption: AdoptionFacts | None = None
    # adopt.moveFrom: whether the role left to its owner still exists in IAM.
    moved_from_exists: bool = False

    @property
    def encryption_role(self) -> AtlasRole | None:
        return encryption_role(self.atlas_roles or ())


def encryption_role(roles: Sequence[AtlasRole]) -> AtlasRole | None:
    """The authorized Atlas role encryption at rest uses now, when there is one."""
    return next((r for r in roles if r.serves_encryption and r.iam_role_arn), None)
