"""AtlasKmsEncryption: Atlas encryption at rest with an AWS KMS key, wired safely.

This module only wires resources; every decision (addresses, policy documents,
budgets, settings) is made by the pure functions in `core/` and `config/`.

It is also served to every Pulumi language as a component package (provider/): the schema is
inferred from the type hints below, read at run time. So this module has no
`from __future__ import annotations` (the analyzer would get strings), and the Args are a
TypedDict (at `construct` they arrive as a plain dict).
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_mongodbatlas as mongodbatlas
import pulumiverse_time as time

from config.args import config_from_args
from config.settings import SettingsError, parse_settings
from core.arns import partition_of_arn, region_of
from core.ips import CLOUDS, AddressError, AddressSet, ClusterAddresses, build_address_set, is_wide
from core.lifecycle import AtlasEncryption, KeyPlan, KeyRef, LifecycleError, plan_keys, rotation_reminder_days
from core.policies import (
    KeyAccess,
    PolicyPlan,
    PolicySizeError,
    canonical_json,
    key_policy,
    key_user_statement,
    plan_policies,
    trust_policy,
)
from core.settings import MAX_KEY_GENERATION, TAG_PROJECT, TAG_STACK, Mode, Settings

COMPONENT_TYPE = "atlas-kms:index:AtlasKmsEncryption"

# The created key's deletion window: the longest KMS allows, the most time to notice.
# https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html#deleting-keys-scheduling-key-deletion
KEY_DELETION_WINDOW_DAYS = 30

# How long a new or replaced role is left to propagate through IAM before Atlas is asked to assume it.
# Atlas assumes the role the moment it is authorized; IAM is eventually consistent (commonly 10-30 s) and
# the provider retries CANNOT_ASSUME_ROLE only briefly, so a first `pulumi up` without a wait can fail.
# MongoDB's own Terraform module puts a `time_sleep` here (terraform-provider-mongodbatlas issue #409).
# A Sleep resource waits on create only (and again when its triggers change), never on preview.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
ROLE_PROPAGATION_WAIT = "30s"

# Atlas's own alarms when it cannot use the key, so that a blocked key is known within minutes even
# where no drift job runs (Atlas Admin API v2 alert event types; Atlas checks the key every 15 minutes).
# https://www.mongodb.com/docs/atlas/reference/alert-resolutions/encryption-key-alerts/
ALERT_EVENTS = (
    "ENCRYPTION_AT_REST_KMS_NETWORK_ACCESS_DENIED",
    "ENCRYPTION_AT_REST_CONFIG_NO_LONGER_VALID",
    "AWS_ENCRYPTION_KEY_INVALID",
)
ALERT_INTERVAL_MIN = 60
# Atlas's reminder that the project's key has not changed for a while (threshold in days).
ROTATION_EVENT = "AWS_ENCRYPTION_KEY_NEEDS_ROTATION"
# How the AWS provider says an alias does not exist: the data source aws_kms_alias answers
# "reading KMS Alias (<name>): empty result" (terraform-provider-aws internal/service/kms/
# alias_data_source.go, tfresource.EmptyResultError). Then the generation was never created. Anything
# else (no permission, throttling) stops the run: guessing "absent" would drop a protected key.
ALIAS_NOT_FOUND = ("empty result",)
# Tag on created keys after the first generation (the first keeps the tags it always had).
TAG_GENERATION = "atlas-kms:key-generation"


class KeyAccountArgs(TypedDict):
    """The AWS account that holds the key, when it is not the role's (stack setting `keyAccount`)."""

    assume_role_arn: NotRequired[str]
    """A role in the key's account that can create KMS keys (and write key policies), assumed to create the key there."""
    profile: NotRequired[str]
    """An AWS profile for the key's account, instead of the default credential chain."""
    region: NotRequired[str]
    """The key's region in that account; must agree with keyArn and keyRegion."""
    external_id: NotRequired[str]
    """The external id the assumed role requires (2 to 1224 characters); only with assumeRoleArn."""
    manage_key_policy: NotRequired[bool]
    """For an existing key in another account: write its key policy through assumeRoleArn (retained on delete). Default false."""
    key_policy_granted: NotRequired[bool]
    """For an existing key in another account whose owner edits its policy: true once the owner added keyPolicyStatementForOwner; encryption is enabled only then. Default false."""


class SourceIpsArgs(TypedDict):
    """Which of Atlas's addresses may use the key (stack setting `sourceIps`)."""

    control_plane: NotRequired[list[str]]
    """["all"] (default, MongoDB's advice) or some of "aws", "azure", "gcp": the clouds whose control-plane outbound addresses are allowed."""
    clusters: NotRequired[list[str]]
    """["all"] (default) or the names of the clusters whose nodes' outbound addresses are allowed."""
    include_future: NotRequired[bool]
    """Also allow the nodes' announced future outbound addresses. Default true."""
    extra_cidrs: NotRequired[list[str]]
    """More public addresses or CIDRs to allow, at most a /16 (IPv6 /48) each unless allowWideCidrs."""
    allow_wide_cidrs: NotRequired[bool]
    """Allow extraCidrs wider than /16 (IPv6 /48), with a warning on every run. Default false."""
    enforce: NotRequired[bool]
    """Keep the source-IP condition. Default true; false drops it and warns on every run."""


class AlertsArgs(TypedDict):
    """Atlas alerts when it cannot use the key (stack setting `alerts`); on by default, to the project owners."""

    enabled: NotRequired[bool]
    """Create the alert configurations. Default true."""
    emails: NotRequired[list[str]]
    """E-mail addresses to notify."""
    roles: NotRequired[list[str]]
    """Atlas project roles to notify (GROUP_OWNER, ...). Default ["GROUP_OWNER"] when no other recipient is given."""
    webhook_url: NotRequired[pulumi.Input[str]]
    """An https webhook to notify; kept secret."""


class AtlasKmsEncryptionArgs(TypedDict):
    """The component's inputs: the `atlas-kms:*` stack settings under the same names and meanings."""

    project_id: pulumi.Input[str]
    """The Atlas project id (24 hex characters), for example a mongodbatlas.Project's id."""
    key_arn: NotRequired[str]
    """The full ARN of an existing KMS key; when absent the component creates the key. A key id or alias is refused: Atlas needs the full ARN."""
    key_region: NotRequired[str]
    """The key's AWS region; defaults to keyArn's region, then the AWS provider's region."""
    key_account: NotRequired[KeyAccountArgs]
    """The AWS account that holds the key, when it is not the role's (key modes 3 and 4)."""
    source_ips: NotRequired[SourceIpsArgs]
    """Which of Atlas's addresses may use the key."""
    enabled_for_search_nodes: NotRequired[bool]
    """Encrypt Atlas Search nodes with the key too. Default true: the provider would otherwise send false."""
    alerts: NotRequired[AlertsArgs]
    """Atlas alerts when it cannot use the key."""
    is_mongodbgov_cloud: NotRequired[bool]
    """true for Atlas for Government (the mongodbatlas provider's isMongodbgovCloud): its principal is in aws-us-gov."""
    default_tags: NotRequired[dict[str, str]]
    """Tags for the key account's provider, which does not inherit the default AWS provider's default tags."""
    retained_key_arns: NotRequired[list[str]]
    """Full ARNs of keys Atlas no longer uses whose snapshots may still need them: the role keeps kms:Decrypt and kms:DescribeKey on them, from Atlas's addresses."""
    key_generation: NotRequired[int]
    """The generation of the key the component creates (default 1). Raising it creates a new key, moves Atlas to it without a gap, and keeps the earlier ones for restores."""
    retired_key_generations: NotRequired[list[int]]
    """Earlier created generations that no snapshot needs any more: Atlas's role loses access to them. The keys themselves are never deleted."""
    rotation_period_in_days: NotRequired[int]
    """KMS automatic rotation period of created keys, 90 to 2560 days (default 365). Atlas's rotation reminder follows it."""
    network: NotRequired[str]
    """How Atlas reaches KMS: public (default; from Atlas's addresses), private (AWS PrivateLink only) or both (while moving)."""
    private_endpoint_regions: NotRequired[list[str]]
    """Atlas regions for the KMS private endpoints (eu-west-2 or EU_WEST_2); default the key's region. Another region needs a multi-region key replicated there."""
    private_endpoint_ids: NotRequired[list[str]]
    """vpce- ids of Atlas's endpoints, to pin aws:SourceVpce to them; without them any VPC endpoint request of the role is allowed, and none from the internet."""


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


def alias_not_found(message: str) -> bool:
    """The AWS provider's answer for an alias that does not exist (an earlier generation never created)."""
    lowered = message.lower()
    return any(text in lowered for text in ALIAS_NOT_FOUND)


# Stands in for a project id that another resource of the same update creates (unknown in preview).
PLACEHOLDER_PROJECT = "0" * 24


def _plain(value: Any) -> tuple[bool, Any]:
    """(known, the plain value) of an Input, waiting for it if it is an Output; unknown in a preview
    that creates the resource it comes from.

    The number of role policies and every size budget must be known before any child is registered,
    so a project id that comes from another resource is waited for here, as the blocking lookups are.
    """
    if isinstance(value, pulumi.Output):
        from pulumi.runtime.sync_await import _sync_await

        known = _sync_await(value.is_known())
        resolved = _sync_await(value.future()) if known else None
        return known and resolved is not None, resolved
    return True, value


def _placeholder_webhook(args: Mapping[str, Any]) -> dict[str, Any]:
    """A secret webhook URL given as an Output is validated as present, not read."""
    alerts = args.get("alerts")
    if isinstance(alerts, Mapping) and isinstance(alerts.get("webhook_url"), pulumi.Output):
        return {"alerts": {**alerts, "webhook_url": "https://secret.invalid/"}}
    return {}


def _settings_or_raise(config: Mapping[str, Any], *, stack: str, aws_region: str | None, gov: Any,
                       role_account: str | None = None, role_partition: str | None = None,
                       region_pending: bool = False) -> Settings:
    try:
        return parse_settings(config, stack=stack, aws_region=aws_region, role_account=role_account,
                              role_partition=role_partition, atlas_gov=gov, region_pending=region_pending)
    except SettingsError as exc:
        raise pulumi.RunError(str(exc)) from exc


@dataclass(frozen=True)
class PrivatePath:
    """This run's private path: whether Atlas must use PrivateLink, and whether the role may use it."""

    require: bool
    grant: bool


@dataclass
class _Keys:
    """The keys of one run, as wired: what Atlas is pointed at and what must exist before it is."""

    target_arn: pulumi.Output[str]
    # ARNs of the keys Atlas's role may use (all three actions) and restore from (Decrypt, DescribeKey).
    access: pulumi.Output[KeyAccess]
    guards: list[pulumi.Resource] = field(default_factory=list)


class AtlasKmsEncryption(pulumi.ComponentResource):
    """MongoDB Atlas encryption at rest for one Atlas project with one AWS KMS customer key, least privilege and source-IP restricted."""

    key_arn: pulumi.Output[str]
    """The full ARN of the key Atlas uses (never a bare key id)."""
    key_region: pulumi.Output[str]
    """The key's AWS region."""
    role_arn: pulumi.Output[str]
    """The IAM role Atlas assumes."""
    atlas_role_id: pulumi.Output[str]
    """Atlas's id of that role (cloud provider access)."""
    allowed_cidrs: pulumi.Output[list[str]]
    """The sorted, collapsed source CIDRs allowed to use the key."""
    encryption_valid: pulumi.Output[bool]
    """Atlas's own check that it can use the key (false while a foreign key's owner has not granted access)."""
    mode: pulumi.Output[str]
    """The key mode the settings selected: same-account-created, same-account-existing, cross-account-created or cross-account-existing."""
    key_policy_statement_for_owner: pulumi.Output[dict[str, Any] | None]
    """Key mode 4 only: the statement the key's owner must add to the key policy (the first of keyPolicyStatementsForOwner)."""
    key_policy_statements_for_owner: pulumi.Output[list[dict[str, Any]] | None]
    """Key mode 4 only: every statement the key's owner must add: the public path's and, with network private or both, the private path's."""
    retained_key_arns: pulumi.Output[list[str]]
    """Keys Atlas no longer uses that the role keeps for restores (kms:Decrypt, kms:DescribeKey): retainedKeyArns and earlier created generations not retired."""
    private_endpoints: pulumi.Output[list[dict[str, str]]]
    """network private or both: each KMS private endpoint Atlas created (regionName, status, errorMessage, privateEndpointConnectionName)."""

    def __init__(self, name: str, args: AtlasKmsEncryptionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        project_input: pulumi.Input[str] = args.get("project_id")  # type: ignore[assignment]
        known, project_value = _plain(project_input)
        config = config_from_args({**args, "project_id": project_value if known else PLACEHOLDER_PROJECT,
                                   **_placeholder_webhook(args)})
        gov = args.get("is_mongodbgov_cloud")
        # The settings alone, before anything is registered: every problem that needs no AWS answer.
        _settings_or_raise(config, stack=pulumi.get_stack(), aws_region=None, gov=gov, region_pending=True)
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self._name = name
        s = self._settings(config, gov)
        # An Output keeps its dependency on the resource it comes from (a mongodbatlas.Project).
        project: pulumi.Input[str] = project_input if isinstance(project_input, pulumi.Output) else s.project_id
        tags: dict[str, pulumi.Input[str]] = {**s.tags, TAG_PROJECT: project}

        # What exists before anything is planned, read on every preview and update: Atlas's addresses,
        # what Atlas holds now, and the key generations this stack created before.
        addresses = self._atlas_addresses(s, known)
        atlas = self._atlas_encryption(s, known)
        key_provider = self._key_provider(s, args.get("default_tags") or {})
        keys = self._key_plan(s, atlas, self._created_generations(s, known, key_provider, atlas))
        private = self._private_path(s, atlas, self._atlas_endpoints(s, known, atlas))
        plan = self._policy_plan(s, addresses, keys, private)
        self._warn(s, known, addresses, atlas, keys)

        setup, role = self._atlas_role(s, project, tags)
        wired = self._keys(s, keys, plan, role, self._stack_roles(s, known), addresses, key_provider, project, tags)
        role_policies = self._role_policies(s, plan, role, wired.access, tags)
        grants = [*role_policies, *wired.guards]
        authorization = self._authorization(project, setup, role, grants)
        encryption, self.encryption_valid = self._encryption(s, project, wired.target_arn, authorization, grants,
                                                             private.require)
        self.private_endpoints = self._private_endpoints(s, project, encryption)
        if s.alerts.enabled:
            self._alerts(s, project, (args.get("alerts") or {}).get("webhook_url"))

        self.key_arn = wired.target_arn
        self.role_arn = role.arn
        self.atlas_role_id = setup.role_id
        # Output.from_input(list) makes one Output per element (thousands here); a value
        # produced by an apply stays one Output (see BENCHMARKS.md).
        # No public path with network private: no address is allowed.
        cidrs = list(addresses.cidrs) if s.uses_public else []
        self.allowed_cidrs = pulumi.Output.from_input(s.stack).apply(lambda _: list(cidrs))
        self.key_region = pulumi.Output.from_input(s.key_region)
        self.mode = pulumi.Output.from_input(s.mode.name.lower().replace("_", "-"))
        self.retained_key_arns = wired.access.apply(lambda a: list(a.restore))
        statement: pulumi.Output[dict[str, Any]] | None = None
        statements: pulumi.Output[list[dict[str, Any]]] | None = None
        if s.mode is Mode.CROSS_ACCOUNT_EXISTING and not s.manages_key_policy:
            policy_cidrs = cidrs if s.enforce_ip else None
            endpoints = plan.private

            def for_owner(arn: str) -> list[dict[str, Any]]:
                # The public path's statement and, with network private or both, the private path's.
                out = [key_user_statement(arn, policy_cidrs)] if plan.public else []
                return out + ([key_user_statement(arn, None, private=endpoints)] if endpoints is not None else [])

            statements = role.arn.apply(for_owner)
            statement = statements.apply(lambda found: found[0])
        self.key_policy_statement_for_owner = statement  # type: ignore[assignment]
        self.key_policy_statements_for_owner = statements  # type: ignore[assignment]

        outputs: dict[str, Any] = {
            "keyArn": self.key_arn,
            "keyRegion": self.key_region,
            "mode": self.mode,
            "roleArn": self.role_arn,
            "atlasRoleId": self.atlas_role_id,
            "allowedCidrs": self.allowed_cidrs,
            "encryptionValid": self.encryption_valid,
            "retainedKeyArns": self.retained_key_arns,
            "privateEndpoints": self.private_endpoints,
        }
        if statement is not None:
            outputs["keyPolicyStatementForOwner"] = statement
            outputs["keyPolicyStatementsForOwner"] = statements
        self.register_outputs(outputs)

    # -- what is read before anything is planned ---------------------------------------------------

    def _settings(self, config: Mapping[str, Any], gov: Any) -> Settings:
        invoke = pulumi.InvokeOptions(parent=self)
        region = aws.get_region(opts=invoke).region
        # The credentials' account decides whether an existing key is cross-account.
        identity = aws.get_caller_identity(opts=invoke)
        return _settings_or_raise(config, stack=pulumi.get_stack(), aws_region=region, gov=gov,
                                  role_account=identity.account_id, role_partition=partition_of_arn(identity.arn))

    def _atlas_addresses(self, s: Settings, project_known: bool) -> AddressSet:
        # Blocking lookups, on every preview and update: the number of role policies and every size
        # budget must be known, and checked, before any child resource is registered. With the
        # *_output forms the count would only be known inside an apply, and resources created there
        # are hidden from `pulumi preview`.
        invoke = pulumi.InvokeOptions(parent=self)
        control_plane = mongodbatlas.get_control_plane_ip_addresses(opts=invoke)
        clusters: list[ClusterAddresses] = []
        if project_known:
            clusters = project_clusters(mongodbatlas.get_project_ip_addresses(project_id=s.project_id, opts=invoke))
        try:
            return build_address_set(control_plane_outbound(control_plane), clusters, s.selection)
        except AddressError as exc:
            raise pulumi.RunError(f"atlas-kms: {exc}") from exc

    def _atlas_encryption(self, s: Settings, project_known: bool) -> AtlasEncryption:
        """What Atlas holds now: the key it uses until a change has deployed. A new project holds nothing."""
        if not project_known:
            return AtlasEncryption()
        answer = mongodbatlas.get_encryption_at_rest(project_id=s.project_id, opts=pulumi.InvokeOptions(parent=self))
        return atlas_encryption(answer)

    def _created_generations(self, s: Settings, project_known: bool, key_provider: aws.Provider | None,
                             atlas: AtlasEncryption) -> dict[int, str]:
        """The key generations this stack created before, by their aliases (names the program controls).

        Probed from generation 1 upward until one is missing (generations are raised one at a time), in
        the key's region and in the region of the key Atlas holds, so that a key the stack created is
        still found (and kept) after keyArn, keyRegion or a lower keyGeneration is set: dropping it from
        the program would make the engine delete a protected key.
        """
        if not project_known:
            return {}
        regions = [s.key_region]
        if atlas.key_id and ":key/" in atlas.key_id and region_of(atlas.key_id) not in regions:
            regions.append(region_of(atlas.key_id))
        found: dict[int, str] = {}
        invoke = pulumi.InvokeOptions(parent=self, provider=key_provider)
        for region in regions:
            for generation in range(1, MAX_KEY_GENERATION + 1):
                alias = s.generation_alias(generation)
                try:
                    answer = aws.kms.get_alias(name=alias, region=region, opts=invoke)
                except Exception as exc:
                    if not alias_not_found(str(exc)):
                        raise pulumi.RunError(f"atlas-kms: could not read the alias {alias} (to find the keys this "
                                              f"stack created): {exc}. Let the deployer kms:ListAliases in {region}.") from exc
                    if generation >= s.key_generation or generation > max(found, default=0):
                        break
                else:
                    found.setdefault(generation, str(answer.target_key_arn))
        return found

    def _stack_roles(self, s: Settings, project_known: bool) -> list[str]:
        """ARNs of the roles that exist now with this stack's tags: normally only the stack's own role.

        While the role is replaced (create before delete), Atlas keeps calling with the old role until
        its authorization names the new one, so the key policies must name both until the old one is
        gone. The role's name is the component's, with Pulumi's 7-character suffix; its tags say
        which stack and project it serves (GetRole returns tags, ListRoles does not).
        """
        if not project_known:
            return []
        invoke = pulumi.InvokeOptions(parent=self)
        candidates = aws.iam.get_roles(name_regex=f"^{re.escape(self._name)}-role-[0-9a-f]{{7}}$", opts=invoke)
        found = []
        for role_name in sorted(candidates.names or []):
            role = aws.iam.get_role(name=role_name, opts=invoke)
            tags = role.tags or {}
            if tags.get(TAG_PROJECT) == s.project_id and tags.get(TAG_STACK) == s.stack:
                found.append(str(role.arn))
        return found

    def _key_plan(self, s: Settings, atlas: AtlasEncryption, existing: Mapping[int, str]) -> KeyPlan:
        try:
            return plan_keys(s, atlas, existing)
        except LifecycleError as exc:
            raise pulumi.RunError(f"atlas-kms: {exc}") from exc

    def _atlas_endpoints(self, s: Settings, project_known: bool, atlas: AtlasEncryption) -> list[Any]:
        """The KMS private endpoints Atlas has for the project now (a new project has none).

        Asked only where they can matter (the stack uses the private path, or Atlas still requires it),
        so that a public stack never depends on an endpoint API it does not use.
        """
        if not project_known or not (s.uses_private or atlas.require_private_networking):
            return []
        answer = mongodbatlas.get_encryption_at_rest_private_endpoints(
            cloud_provider="AWS", project_id=s.project_id, opts=pulumi.InvokeOptions(parent=self))
        return list(answer.results or [])

    def _private_path(self, s: Settings, atlas: AtlasEncryption, endpoints: Sequence[Any]) -> PrivatePath:
        """Whether Atlas must use AWS PrivateLink this run, and whether its private path is granted.

        MongoDB's order: requirePrivateNetworking on in place, then the endpoints; off again only once
        the endpoints are gone (Atlas refuses CANNOT_DISABLE_ENCRYPTION_AT_REST_REQUIRE_PRIVATE_NETWORKING_
        WHILE_PRIVATE_ENDPOINTS_EXIST). So leaving the private path takes two runs, and the first keeps
        the private grant while Atlas may still use it.
        https://www.mongodb.com/docs/atlas/security/aws-kms-over-private-endpoint/
        """
        if s.network == "private" and atlas.holds_key and not atlas.require_private_networking:
            raise pulumi.RunError(
                f"atlas-kms:network: Atlas uses the key {atlas.key_id} over the public path today, and private would "
                "drop that path before Atlas's private endpoints exist. Move in two steps: set atlas-kms:network "
                "both and run `pulumi up` (Atlas creates the endpoints; wait until the stack output privateEndpoints "
                "shows every one ACTIVE), then set atlas-kms:network private and run `pulumi up` again.")
        if s.network == "private" and atlas.holds_key:
            active = {str(e.region_name) for e in endpoints if e.status == "ACTIVE"}
            waiting = [r for r in s.private_endpoint_regions if r not in active]
            if waiting:
                raise pulumi.RunError(
                    f"atlas-kms:network: private would drop the public path, but Atlas's KMS private endpoint is not "
                    f"ACTIVE in {', '.join(waiting)} (see the stack output privateEndpoints). Keep atlas-kms:network "
                    "both and run `pulumi up` again until every endpoint is ACTIVE, then set it to private.")
        if s.uses_private:
            return PrivatePath(require=True, grant=True)
        leaving = atlas.require_private_networking and bool(endpoints)
        if leaving:
            pulumi.log.info("atlas-kms: leaving AWS PrivateLink: this update deletes Atlas's KMS private endpoints and "
                            "keeps requirePrivateNetworking (Atlas refuses to turn it off while endpoints exist); run "
                            "`pulumi up` again to turn it off.", resource=self)
        return PrivatePath(require=leaving, grant=leaving or atlas.require_private_networking)

    def _policy_plan(self, s: Settings, addresses: AddressSet, keys: KeyPlan, private: PrivatePath) -> PolicyPlan:
        try:
            return plan_policies(addresses.cidrs, kind=s.policy_kind, enforce_ip=s.enforce_ip,
                                 manage_key_policy=s.manages_key_policy, use_keys=len(keys.use) + len(s.replica_key_arns),
                                 restore_keys=len(keys.retained), public=s.uses_public,
                                 private=s.private_endpoint_ids if private.grant else None)
        except PolicySizeError as exc:
            raise pulumi.RunError(f"atlas-kms: {exc}") from exc

    def _warn(self, s: Settings, project_known: bool, addresses: AddressSet, atlas: AtlasEncryption, keys: KeyPlan) -> None:
        def warn(message: str) -> None:
            pulumi.log.warn(message, resource=self)

        if not project_known:
            pulumi.log.info("atlas-kms: projectId is not known yet (the project is created in this update): "
                            "planned with Atlas's control-plane addresses only; a new project has no clusters.",
                            resource=self)
        if not s.enforce_ip:
            warn("atlas-kms:sourceIps.enforce is false: the KMS key can be used by Atlas's role from ANY "
                 "address. This is an explicit opt-out of the source-IP condition; set it back to true.")
        for missing in addresses.missing_clusters:
            warn(f"atlas-kms:sourceIps.clusters names {missing!r}, which Atlas does not report for project "
                 f"{s.project_id}; its addresses are not allowed yet. Run `pulumi up` again once it exists.")
        # What lands in the policy counts: adjacent extraCidrs may merge into a wide range.
        wide = [c for c in addresses.cidrs if is_wide(c)]
        if wide:
            warn(f"atlas-kms:sourceIps.allowWideCidrs is true and the allowed addresses hold {', '.join(wide)}: the key can be "
                 "used by Atlas's role from far more addresses than Atlas uses. Narrow them and remove allowWideCidrs.")
        for message in keys.warnings:
            warn(message)
        if keys.outgoing is not None:
            pulumi.log.info(f"atlas-kms: Atlas moves from the key {keys.outgoing.describe()} to {keys.target.describe()}. "
                            "Both stay usable for this update; run `pulumi up` again once Atlas reports the new key "
                            "(encryptionValid true) to narrow the old one to what restores need.", resource=self)
        # The provider sends our value on update; turning search-node encryption on where Atlas has it
        # off re-syncs the search nodes and rebuilds their indexes (MongoDB's atlas-aws module, PR #26).
        if atlas.holds_key and atlas.enabled_for_search_nodes is False and s.enabled_for_search_nodes:
            warn("atlas-kms:enabledForSearchNodes is true but Atlas has it off for this project: this update turns "
                 "it on, which re-syncs the Atlas Search nodes and rebuilds their indexes (searches may be degraded "
                 "while it runs). Set atlas-kms:enabledForSearchNodes false to keep Atlas's setting.")

    # -- what is registered, in dependency order ---------------------------------------------------

    def _child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _atlas_role(self, s: Settings, project: pulumi.Input[str],
                    tags: Mapping[str, pulumi.Input[str]]) -> tuple[mongodbatlas.CloudProviderAccessSetup, aws.iam.Role]:
        """Atlas's cloud provider access setup, and the role trusting Atlas's principal with its external id."""
        setup = mongodbatlas.CloudProviderAccessSetup(
            f"{self._name}-access-setup", project_id=project, provider_name="AWS",
            # The provider's update of project_id only clears the id: another project needs a new setup.
            # (terraform-provider-mongodbatlas internal/service/cloudprovideraccess, setup resource)
            opts=self._child(replace_on_changes=["projectId"]),
        )
        trust = setup.aws_configs.apply(
            lambda cfgs: canonical_json(
                trust_policy(cfgs[0].atlas_aws_account_arn or "", cfgs[0].atlas_assumed_role_external_id or "")
            )
        )
        role = aws.iam.Role(
            f"{self._name}-role",
            description=pulumi.Output.concat("Assumed by MongoDB Atlas for encryption at rest of project ", project),
            assume_role_policy=trust,
            tags=dict(tags),
            opts=self._child(),
        )
        return setup, role

    def _keys(self, s: Settings, keys: KeyPlan, plan: PolicyPlan, role: aws.iam.Role, stack_roles: Sequence[str],
              addresses: AddressSet,
              key_provider: aws.Provider | None, project: pulumi.Input[str],
              tags: Mapping[str, pulumi.Input[str]]) -> _Keys:
        """Every created generation (never dropped, never deleted), the key policy the program writes,
        and the ARNs of the keys Atlas's role may use and restore from."""
        policy_cidrs = list(addresses.cidrs) if s.enforce_ip else None
        key_opts = self._child(provider=key_provider)
        root = f"arn:{s.partition}:iam::{self._key_account_id(s)}:root"
        created: dict[int, pulumi.Output[str]] = {}
        guards: list[pulumi.Resource] = []
        for generation in keys.generations:
            actions = keys.access_of(generation)
            # An existing generation stays where it was created: another region would replace it.
            known_arn = keys.arn_of(generation)
            region = region_of(known_arn) if known_arn else s.key_region
            policy = role.arn.apply(lambda arn, a=actions: canonical_json(  # type: ignore[misc]
                key_policy(root, [arn, *stack_roles], policy_cidrs, a, public=plan.public, private=plan.private)))
            suffix = "" if generation == 1 else f"-gen-{generation}"
            key = aws.kms.Key(
                f"{self._name}-key{suffix}",
                description=pulumi.Output.concat("Atlas encryption at rest, project ", project, f", stack {s.stack}",
                                                 "" if generation == 1 else f", generation {generation}"),
                key_usage="ENCRYPT_DECRYPT",
                customer_master_key_spec="SYMMETRIC_DEFAULT",
                enable_key_rotation=True,
                rotation_period_in_days=s.rotation_period_days,
                deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
                policy=policy,
                region=region,
                tags={**tags, TAG_GENERATION: str(generation)} if generation > 1 else dict(tags),
                # A deleted key makes every byte and every snapshot it encrypted unreadable. Protected,
                # so that no update or destroy can delete it; retained on delete, so that even an
                # unprotected one is only forgotten, never scheduled for deletion. The program keeps
                # registering every generation it created, so neither ever has to be lifted.
                # https://www.pulumi.com/docs/iac/concepts/options/protect/
                # https://www.pulumi.com/docs/iac/concepts/options/retainondelete/
                opts=pulumi.ResourceOptions.merge(key_opts, pulumi.ResourceOptions(protect=True, retain_on_delete=True)),
            )
            aws.kms.Alias(f"{self._name}-key{suffix}-alias", name=s.generation_alias(generation),
                          target_key_id=key.key_id, region=region, opts=key_opts)
            created[generation] = key.arn
            if actions:
                guards.append(key)

        def arn_of(ref: KeyRef) -> pulumi.Input[str]:
            if ref.generation is not None:
                return created[ref.generation]
            assert ref.arn is not None
            return ref.arn

        target_arn = pulumi.Output.from_input(arn_of(keys.target))
        if s.manages_key_policy and not s.creates_key:
            assert s.key_arn is not None
            guards.append(aws.kms.KeyPolicy(
                f"{self._name}-key-policy",
                # The provider stores the bare key id and would show the ARN as a change on
                # every preview (terraform-provider-aws issues #31297, #46432).
                key_id=s.key_arn.key_id,
                policy=role.arn.apply(lambda arn: canonical_json(key_policy(
                    root, [arn, *stack_roles], policy_cidrs, public=plan.public, private=plan.private))),
                region=s.key_region,
                # The key is not ours: on destroy, leave its policy in place rather
                # than reset it under a running Atlas project.
                # https://www.pulumi.com/docs/iac/concepts/options/retainondelete/
                # The provider's update writes the policy to the key of the stored id and ignores a new
                # key_id (terraform-provider-aws internal/service/kms/key_policy.go): another key needs
                # a new resource.
                opts=pulumi.ResourceOptions.merge(key_opts, pulumi.ResourceOptions(
                    retain_on_delete=True, replace_on_changes=["keyId"])),
            ))
        # A private endpoint in another region reaches the multi-region key's replica there.
        use = pulumi.Output.all(*[arn_of(k) for k in keys.use], *s.replica_key_arns)
        restore = pulumi.Output.all(*[arn_of(k) for k in keys.retained])
        access = pulumi.Output.all(use, restore).apply(lambda ur: KeyAccess.of(ur[0], ur[1]))
        return _Keys(target_arn=target_arn, access=access, guards=guards)

    def _key_provider(self, s: Settings, default_tags: Mapping[str, str]) -> aws.Provider | None:
        if not s.needs_key_provider:
            return None
        assert s.key_account is not None and s.key_account.assume_role_arn is not None
        ka = s.key_account
        return aws.Provider(
            f"{self._name}-key-account",
            region=s.key_region,
            profile=ka.profile,
            assume_roles=[
                aws.ProviderAssumeRoleArgs(
                    role_arn=ka.assume_role_arn,
                    external_id=ka.external_id,
                    session_name=f"atlas-kms-{s.stack}"[:64],
                )
            ],
            default_tags=aws.ProviderDefaultTagsArgs(tags=dict(default_tags)) if default_tags else None,
            opts=self._child(),
        )

    @staticmethod
    def _key_account_id(s: Settings) -> str:
        if s.key_account is not None and s.key_account.account_id:
            return s.key_account.account_id
        if s.key_arn is not None:
            return s.key_arn.account
        if s.role_account is None:
            raise pulumi.RunError("atlas-kms: the role's AWS account is unknown; pass role_account in the settings")
        return s.role_account

    def _role_policies(self, s: Settings, plan: PolicyPlan, role: aws.iam.Role, access: pulumi.Output[KeyAccess],
                       tags: Mapping[str, pulumi.Input[str]]) -> list[pulumi.Resource]:
        documents = access.apply(plan.role_documents)
        created: list[pulumi.Resource] = []
        count = max(1, len(plan.chunks)) if plan.public or plan.kind == "inline" else 0
        # Parts are written from the highest index down: part i waits for part i+1's attachment. With
        # the stable split (core/split.py) addresses only move into a new, higher part or out of a
        # removed one (which Pulumi deletes last), so no address that stays is ever allowed by no part
        # while the update runs.
        later: pulumi.Resource | None = None
        for i in reversed(range(count)):
            document: pulumi.Output[str] = documents.apply(lambda docs, i=i: docs[i])  # type: ignore[misc]
            after = self._child(depends_on=[later] if later is not None else None)
            if plan.kind == "inline":
                created.append(aws.iam.RolePolicy(f"{self._name}-kms-inline-{i + 1}", role=role.id, policy=document, opts=after))
                continue
            policy = aws.iam.Policy(
                f"{self._name}-kms-policy-{i + 1}",
                # No part count here: an IAM policy's description cannot change in place,
                # and a new part must not replace the existing ones.
                description=f"Atlas encryption at rest: KMS use from Atlas addresses, part {i + 1}",
                policy=document,
                tags=dict(tags),
                opts=after,
            )
            later = aws.iam.RolePolicyAttachment(
                f"{self._name}-kms-policy-{i + 1}-attachment", role=role.name, policy_arn=policy.arn, opts=self._child()
            )
            created += [policy, later]
        if plan.kind == "managed" and plan.private is not None:
            # The private path in a policy of its own: it comes and goes with `network` without
            # touching the IP parts.
            private = aws.iam.Policy(
                f"{self._name}-kms-policy-private",
                description="Atlas encryption at rest: KMS use through AWS PrivateLink (VPC endpoints)",
                policy=access.apply(lambda a: plan.private_document(a) or ""),
                tags=dict(tags),
                opts=self._child(),
            )
            created += [private, aws.iam.RolePolicyAttachment(
                f"{self._name}-kms-policy-private-attachment", role=role.name, policy_arn=private.arn, opts=self._child())]
        return created

    def _authorization(self, project: pulumi.Input[str], setup: mongodbatlas.CloudProviderAccessSetup,
                       role: aws.iam.Role, grants: Sequence[pulumi.Resource]) -> mongodbatlas.CloudProviderAccessAuthorization:
        """Atlas's authorization of the role, after IAM has propagated it and after it may use the keys.

        A changed role ARN re-authorizes in place, and Atlas uses the new role from then on, so the
        role's grants (its policies and the key policies naming it) come first.
        """
        # Re-armed whenever the role is replaced (its unique id changes) or its trust policy changes.
        propagation = time.Sleep(
            f"{self._name}-role-propagation",
            create_duration=ROLE_PROPAGATION_WAIT,
            triggers={"roleUniqueId": role.unique_id, "trustPolicy": role.assume_role_policy},
            opts=self._child(),
        )
        return mongodbatlas.CloudProviderAccessAuthorization(
            f"{self._name}-access-authorization",
            project_id=project,
            role_id=setup.role_id,
            aws={"iam_assumed_role_arn": role.arn},
            opts=self._child(depends_on=[propagation, *grants]),
        )

    def _encryption(self, s: Settings, project: pulumi.Input[str], key_arn: pulumi.Output[str],
                    authorization: mongodbatlas.CloudProviderAccessAuthorization,
                    grants: Sequence[pulumi.Resource], require_private: bool,
                    ) -> tuple[mongodbatlas.EncryptionAtRest | None, pulumi.Output[bool]]:
        """The project's encryption-at-rest setting, pointed at the target key once it may be used.

        Atlas checks the key as soon as encryption at rest is configured: the role must be authorized
        and already allowed to use the key, or the update fails. A changed key is an in-place PATCH.
        https://www.mongodb.com/docs/atlas/security-aws-kms/#enable-customer-managed-keys-with-aws-kms
        """
        if not s.enables_encryption:
            pulumi.log.warn(
                f"atlas-kms: the key {s.key_arn} belongs to account {s.key_arn.account if s.key_arn else '?'}. "
                "Encryption at rest is NOT enabled yet: send the stack output keyPolicyStatementForOwner to the "
                "key's owner, and once it is in the key policy set atlas-kms:keyAccount.keyPolicyGranted to true "
                "and run `pulumi up` again.",
                resource=self,
            )
            return None, pulumi.Output.from_input(False)
        encryption = mongodbatlas.EncryptionAtRest(
            f"{self._name}-encryption-at-rest",
            project_id=project,
            aws_kms_config={
                "enabled": True,
                "customer_master_key_id": key_arn,
                "region": s.atlas_region,
                "role_id": authorization.role_id,
                # Changed in place, never by replacing (and so never disabling) encryption at rest.
                "require_private_networking": require_private,
            },
            enabled_for_search_nodes=s.enabled_for_search_nodes,
            opts=self._child(depends_on=[authorization, *grants]),
        )
        # The engine returns aws_kms_config as a secret (the key ARN inside is sensitive), so all
        # derived from it is secret. Only this boolean is made readable, on purpose.
        return encryption, pulumi.Output.unsecret(encryption.aws_kms_config.apply(lambda c: bool(c and c.valid)))

    def _private_endpoints(self, s: Settings, project: pulumi.Input[str],
                           encryption: mongodbatlas.EncryptionAtRest | None) -> pulumi.Output[list[dict[str, str]]]:
        """One KMS private endpoint per region, after requirePrivateNetworking is on.

        Atlas creates each in its own AWS account (no approval step for AWS); the provider waits for
        ACTIVE and fails the create on FAILED. Its update only copies timeouts, so another region or
        project must be a new endpoint (terraform-provider-mongodbatlas encryptionatrestprivateendpoint).
        """
        if not s.uses_private or encryption is None:
            return pulumi.Output.from_input(s.stack).apply(lambda _: [])
        states = []
        for region in s.private_endpoint_regions:
            endpoint = mongodbatlas.EncryptionAtRestPrivateEndpoint(
                f"{self._name}-kms-endpoint-{region.lower().replace('_', '-')}",
                project_id=project, cloud_provider="AWS", region_name=region,
                opts=self._child(depends_on=[encryption],
                                 replace_on_changes=["projectId", "cloudProvider", "regionName"]),
            )
            states.append(pulumi.Output.all(endpoint.region_name, endpoint.status, endpoint.error_message,
                                            endpoint.private_endpoint_connection_name))

        def report(rows: list[list[Any]]) -> list[dict[str, str]]:
            out = []
            for region, status, error, name in rows:
                if status == "FAILED":
                    raise pulumi.RunError(f"atlas-kms: Atlas's KMS private endpoint in {region} FAILED: {error or 'no reason given'}")
                if status and status != "ACTIVE":
                    pulumi.log.warn(f"atlas-kms: Atlas's KMS private endpoint in {region} is {status}, not ACTIVE"
                                    f"{': ' + error if error else ''}; Atlas cannot use the private path there yet "
                                    "(keep network both until every endpoint is ACTIVE).", resource=self)
                out.append({"regionName": str(region or ""), "status": str(status or ""), "errorMessage": str(error or ""),
                            "privateEndpointConnectionName": str(name or "")})
            return out

        return pulumi.Output.all(*states).apply(report)

    def _alerts(self, s: Settings, project: pulumi.Input[str], webhook: pulumi.Input[str] | None) -> None:
        notifications: list[mongodbatlas.AlertConfigurationNotificationArgs] = []
        if s.alerts.roles:
            notifications.append(mongodbatlas.AlertConfigurationNotificationArgs(
                type_name="GROUP", roles=list(s.alerts.roles), email_enabled=True, interval_min=ALERT_INTERVAL_MIN,
                delay_min=0))
        for address in s.alerts.emails:
            notifications.append(mongodbatlas.AlertConfigurationNotificationArgs(
                type_name="EMAIL", email_address=address, interval_min=ALERT_INTERVAL_MIN, delay_min=0))
        if webhook is not None:
            notifications.append(mongodbatlas.AlertConfigurationNotificationArgs(
                type_name="WEBHOOK", webhook_url=pulumi.Output.secret(webhook),
                interval_min=ALERT_INTERVAL_MIN, delay_min=0))
        for event in ALERT_EVENTS:
            mongodbatlas.AlertConfiguration(
                f"{self._name}-alert-{event.lower().replace('_', '-')}",
                project_id=project,
                event_type=event,
                enabled=True,
                notifications=notifications,
                opts=self._child(),
            )
        # Atlas's reminder counts days since the project's key last changed; KMS's automatic rotation
        # keeps the ARN, so Atlas never sees it. For a created key the reminder follows the key's real
        # rotation period instead of Atlas's 90 days (MongoDB: raise the threshold above the rotation
        # period if you rely on KMS rotation); for an existing key, whose rotation is its owner's, it
        # keeps Atlas's default of 90 days.
        # https://www.mongodb.com/docs/atlas/security-aws-kms/#rotate-your-aws-customer-master-key
        mongodbatlas.AlertConfiguration(
            f"{self._name}-alert-{ROTATION_EVENT.lower().replace('_', '-')}",
            project_id=project,
            event_type=ROTATION_EVENT,
            enabled=True,
            notifications=notifications,
            threshold_config=mongodbatlas.AlertConfigurationThresholdConfigArgs(
                operator="GREATER_THAN", threshold=rotation_reminder_days(s), units="DAYS"),
            opts=self._child(),
        )
