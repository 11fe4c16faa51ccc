"""Facts: everything the program reads from Atlas and AWS, gathered in one place before anything is planned.

The only module of the program that calls data sources or the Atlas Admin API. Every lookup's cost is
independent of the size of the AWS account: Atlas's own answer says which role it uses (one GetRole
checks whose it is), and created keys are found by their aliases (names the program controls).

The lookups block (not the *_output forms): the number of role policies and every size budget must be
known, and checked, before any child resource is registered, and resources created inside an apply are
hidden from `pulumi preview`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

import pulumi
import pulumi_aws as aws
import pulumi_mongodbatlas as mongodbatlas

from core.arns import Arn, partition_of_arn
from core.errors import ReadError
from core.facts import AdoptionFacts, AtlasRole, Facts, Identity, PrivateEndpointState, RoleFact, encryption_role
from core.ips import CLOUDS, ClusterAddresses
from core.lifecycle import AtlasEncryption
from core.plan import probe_generations, probe_regions
from core.settings import TAG_PROJECT, TAG_STACK, Settings
from facts.atlas_api import AtlasClient

# How the AWS provider says an alias does not exist: the data source aws_kms_alias answers
# "reading KMS Alias (<name>): empty result" (terraform-provider-aws internal/service/kms/
# alias_data_source.go, tfresource.EmptyResultError). Then the generation was never created. Anything
# else (no permission, throttling) stops the run: guessing "absent" would drop a protected key.
ALIAS_NOT_FOUND = ("empty result",)
# How the AWS provider says a role does not exist: the data source aws_iam_role answers "reading IAM
# Role (<name>): couldn't find resource" (terraform-provider-aws internal/service/iam/role_data_source.go).
ROLE_NOT_FOUND = "couldn't find resource"


def alias_not_found(message: str) -> bool:
    """The AWS provider's answer for an alias that does not exist (an earlier generation never created)."""
    lowered = message.lower()
    return any(text in lowered for text in ALIAS_NOT_FOUND)


def control_plane_outbound(result: Any) -> dict[str, dict[str, list[str]]]:
    """The data source's typed answer -> cloud -> region -> CIDRs, as plain data."""
    outbound = getattr(result, "outbound", None)
    if outbound is None:
        return {}
    out: dict[str, dict[str, list[str]]] = {}
    for cloud in CLOUDS:
        regions = getattr(outbound, cloud, None)
        out[cloud] = {str(region): list(ips or []) for region, ips in (regions or {}).items()}
    return out


def project_clusters(result: Any) -> list[ClusterAddresses]:
    services = getattr(result, "services", None)
    clusters: Sequence[Any] = (getattr(services, "clusters", None) or []) if services is not None else []
    return [
        ClusterAddresses(
            name=c.cluster_name,
            outbound=tuple(c.outbounds or ()),
            future_outbound=tuple(c.future_outbounds or ()),
        )
        for c in clusters
    ]


def atlas_encryption(result: Any) -> AtlasEncryption:
    """The data source's typed answer -> what Atlas holds now, as plain data."""
    kms = getattr(result, "aws_kms_config", None)
    if kms is None:
        return AtlasEncryption(enabled_for_search_nodes=getattr(result, "enabled_for_search_nodes", None))
    return AtlasEncryption(
        enabled=bool(kms.enabled),
        key_id=kms.customer_master_key_id or None,
        role_id=kms.role_id or None,
        valid=kms.valid,
        require_private_networking=bool(kms.require_private_networking),
        enabled_for_search_nodes=getattr(result, "enabled_for_search_nodes", None),
    )


def read_identity(parent: pulumi.Resource) -> Identity:
    """The default AWS provider's region and the credentials' account: they decide the key mode."""
    invoke = pulumi.InvokeOptions(parent=parent)
    region = aws.get_region(opts=invoke).region
    identity = aws.get_caller_identity(opts=invoke)
    return Identity(account=identity.account_id, partition=partition_of_arn(identity.arn), region=region)


def atlas_client() -> AtlasClient:
    """The Atlas Admin API with the mongodbatlas provider's own credentials and base URL.

    The provider takes them from its config (`mongodbatlas:publicKey`, `privateKey`, `baseUrl`) or from
    its environment variables; no data source lists a project's cloud provider access roles.
    """
    config = pulumi.Config("mongodbatlas")
    env = dict(os.environ)
    for setting, variable in (("publicKey", "MONGODB_ATLAS_PUBLIC_KEY"), ("privateKey", "MONGODB_ATLAS_PRIVATE_KEY"),
                              ("baseUrl", "MONGODB_ATLAS_BASE_URL")):
        value = config.get(setting)
        if value:
            env[variable] = value
    try:
        return AtlasClient.from_env(env)
    except ReadError as exc:
        # The provider can also authenticate with a service account or an access token; this program's
        # Atlas client speaks digest auth with API keys only.
        other = [name for name in ("clientId", "accessToken") if config.get(name)]
        how = (f"the mongodbatlas provider is configured with {' and '.join(other)}, which this program cannot use "
               "yet; " if other else "")
        raise ReadError(f"{how}set the provider's API keys: `pulumi config set mongodbatlas:publicKey <key>` and "
                        "`pulumi config set --secret mongodbatlas:privateKey <key>` (or MONGODB_ATLAS_PUBLIC_KEY and "
                        "MONGODB_ATLAS_PRIVATE_KEY)") from exc


def gather(parent: pulumi.Resource, s: Settings, project_known: bool) -> Facts:
    """Everything this run reads from Atlas and the role's account, before anything is planned; a new
    project (id unknown) holds nothing. The created generations are read apart (`created_generations`):
    they may need the key account's provider, a resource registered only once first contact is settled."""
    invoke = pulumi.InvokeOptions(parent=parent)
    control_plane = control_plane_outbound(mongodbatlas.get_control_plane_ip_addresses(opts=invoke))
    if not project_known:
        return Facts(control_plane=control_plane, project_known=False)
    clusters = project_clusters(mongodbatlas.get_project_ip_addresses(project_id=s.project_id, opts=invoke))
    atlas = atlas_encryption(mongodbatlas.get_encryption_at_rest(project_id=s.project_id, opts=invoke))
    roles = _atlas_roles(s)
    stack_roles = _stack_roles(parent, s, roles)
    return Facts(
        control_plane=control_plane, clusters=tuple(clusters), atlas=atlas,
        endpoints=_endpoints(parent, s, atlas), stack_roles=stack_roles, atlas_roles=roles,
        adoption=_adoption(parent, s, roles, stack_roles),
        moved_from_exists=bool(s.adopt and s.adopt.move_from and _role(parent, s.adopt.move_from.name)),
    )


def _role(parent: pulumi.Resource, name: str) -> RoleFact | None:
    """An IAM role by name (one GetRole), or None when it does not exist."""
    try:
        answer = aws.iam.get_role(name=name, opts=pulumi.InvokeOptions(parent=parent))
    except Exception as exc:
        if ROLE_NOT_FOUND in str(exc).lower():
            return None
        raise pulumi.RunError(f"atlas-kms: could not read the IAM role {name}: {exc}. Let the deployer iam:GetRole.") from exc
    try:
        trust = json.loads(unquote(answer.assume_role_policy or "")) if answer.assume_role_policy else None
    except ValueError:
        trust = None
    return RoleFact(arn=str(answer.arn), name=str(answer.name), path=str(answer.path or "/"), trust_policy=trust,
                    tags=dict(answer.tags or {}))


def _adoption(parent: pulumi.Resource, s: Settings, roles: Sequence[AtlasRole],
              stack_roles: Sequence[str]) -> AdoptionFacts | None:
    """First contact with adopt.roleArn: the role to take over, and the principal and external id Atlas's
    role expects it to trust (get_cloud_provider_access_setup answers them for one Atlas role id)."""
    if s.adopt is None or s.adopt.role_arn is None:
        return None
    using = encryption_role(roles)
    if using is None or using.iam_role_arn in stack_roles:
        return None
    setup = mongodbatlas.get_cloud_provider_access_setup(project_id=s.project_id, provider_name="AWS",
                                                         role_id=using.role_id, opts=pulumi.InvokeOptions(parent=parent))
    configs = list(setup.aws_configs or [])
    return AdoptionFacts(role=_role(parent, s.adopt.role_arn.name),
                         atlas_principal=str(configs[0].atlas_aws_account_arn or "") if configs else "",
                         external_id=str(configs[0].atlas_assumed_role_external_id or "") if configs else "")


def _atlas_roles(s: Settings) -> tuple[AtlasRole, ...]:
    try:
        return tuple(atlas_client().cloud_provider_access(s.project_id))
    except ReadError as exc:
        raise pulumi.RunError(f"atlas-kms: cannot read which role Atlas uses for project {s.project_id} "
                              f"(GET /groups/{s.project_id}/cloudProviderAccess): {exc}. Nothing was changed; the "
                              "API key needs Project Read Only access to the project.") from exc


def created_generations(parent: pulumi.Resource, s: Settings, facts: Facts,
                        key_provider: aws.Provider | None) -> Facts:
    """The facts with the key generations this stack created, found by their aliases (in the key's account)."""
    if not facts.project_known:
        return facts
    return replace(facts, created_generations=_created_generations(parent, s, facts.atlas, key_provider))


def _created_generations(parent: pulumi.Resource, s: Settings, atlas: AtlasEncryption,
                         key_provider: aws.Provider | None) -> dict[int, str]:
    invoke = pulumi.InvokeOptions(parent=parent, provider=key_provider)

    def lookup(alias: str, region: str) -> str | None:
        try:
            return str(aws.kms.get_alias(name=alias, region=region, opts=invoke).target_key_arn)
        except Exception as exc:
            if alias_not_found(str(exc)):
                return None
            raise pulumi.RunError(f"atlas-kms: could not read the alias {alias} (to find the keys this "
                                  f"stack created): {exc}. Let the deployer kms:ListAliases in {region}.") from exc

    return probe_generations(s, probe_regions(s, atlas), lookup)


def _endpoints(parent: pulumi.Resource, s: Settings, atlas: AtlasEncryption) -> tuple[PrivateEndpointState, ...]:
    """The KMS private endpoints Atlas has now, asked only where they can matter (the stack uses the
    private path, or Atlas still requires it), so that a public stack never depends on that API."""
    if not (s.uses_private or atlas.require_private_networking):
        return ()
    answer = mongodbatlas.get_encryption_at_rest_private_endpoints(
        cloud_provider="AWS", project_id=s.project_id, opts=pulumi.InvokeOptions(parent=parent))
    return tuple(PrivateEndpointState(region=str(e.region_name), status=str(e.status or ""),
                                      error=str(e.error_message or "")) for e in answer.results or [])


def _stack_roles(parent: pulumi.Resource, s: Settings, roles: Sequence[AtlasRole]) -> tuple[str, ...]:
    """The role of this stack that Atlas uses for encryption at rest now, when there is one.

    While the role is replaced (create before delete), Atlas keeps calling with the old role until its
    authorization names the new one, so the key policies must name both until the old one is gone.
    Atlas's answer names the role; its tags (one GetRole) say whether it is this stack's.
    """
    using = encryption_role(roles)
    if using is None or using.iam_role_arn is None:
        return ()
    # A role of another account, or one deleted by hand, is not this stack's.
    found = _role(parent, Arn.parse(using.iam_role_arn).name)
    if found is None or found.arn != using.iam_role_arn:
        return ()
    ours = found.tags.get(TAG_PROJECT) == s.project_id and found.tags.get(TAG_STACK) == s.stack
    return (found.arn,) if ours else ()
