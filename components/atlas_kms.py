"""AtlasKmsEncryption: Atlas encryption at rest with an AWS KMS key, wired safely.

This module only wires resources; every decision (addresses, policy documents,
budgets, settings) is made by the pure functions in `core/` and `config/`.

It is also served to every Pulumi language as a component package (provider/): the schema is
inferred from the type hints below, read at run time. So this module has no
`from __future__ import annotations` (the analyzer would get strings), and the Args are a
TypedDict (at `construct` they arrive as a plain dict).
"""

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_mongodbatlas as mongodbatlas
import pulumiverse_time as time

from config.args import config_from_args
from config.settings import TAG_PROJECT, Mode, Settings, SettingsError, parse_settings
from core.ips import CLOUDS, AddressError, AddressSet, ClusterAddresses, build_address_set, is_wide
from core.policies import (
    PolicyPlan,
    PolicySizeError,
    canonical_json,
    key_policy,
    key_user_statement,
    plan_policies,
    trust_policy,
)

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
    """Key mode 4 only: the statement the key's owner must add to the key policy."""

    def __init__(self, name: str, args: AtlasKmsEncryptionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        project_input: pulumi.Input[str] = args.get("project_id")  # type: ignore[assignment]
        known, project_value = _plain(project_input)
        config = config_from_args({**args, "project_id": project_value if known else PLACEHOLDER_PROJECT,
                                   **_placeholder_webhook(args)})
        gov = args.get("is_mongodbgov_cloud")
        stack = pulumi.get_stack()
        # The settings alone, before anything is registered: every problem that needs no AWS answer.
        _settings_or_raise(config, stack=stack, aws_region=None, gov=gov, region_pending=True)
        super().__init__(COMPONENT_TYPE, name, None, opts)
        invoke = pulumi.InvokeOptions(parent=self)
        region = aws.get_region(opts=invoke).region
        # The credentials' account decides whether an existing key is cross-account.
        identity = aws.get_caller_identity(opts=invoke)
        s = _settings_or_raise(config, stack=stack, aws_region=region, gov=gov, role_account=identity.account_id,
                               role_partition=identity.arn.split(":")[1])
        webhook = (args.get("alerts") or {}).get("webhook_url")  # None and {} both mean "no alerts settings"
        # An Output keeps its dependency on the resource it comes from (a mongodbatlas.Project).
        project: pulumi.Input[str] = project_input if isinstance(project_input, pulumi.Output) else s.project_id
        tags: dict[str, pulumi.Input[str]] = {**s.tags, TAG_PROJECT: project}
        child = pulumi.ResourceOptions(parent=self)
        if not known:
            pulumi.log.info("atlas-kms: projectId is not known yet (the project is created in this update): "
                            "planned with Atlas's control-plane addresses only; a new project has no clusters.",
                            resource=self)

        if not s.enforce_ip:
            pulumi.log.warn(
                "atlas-kms:sourceIps.enforce is false: the KMS key can be used by Atlas's role from ANY "
                "address. This is an explicit opt-out of the source-IP condition; set it back to true.",
                resource=self,
            )

        # Blocking lookups, on every preview and update: the number of role policies and
        # every size budget must be known, and checked, before any child resource is
        # registered. With the *_output forms the count would only be known inside an
        # apply, and resources created there are hidden from `pulumi preview`.
        addresses, plan = self._address_plan(s, known)
        for missing in addresses.missing_clusters:
            pulumi.log.warn(
                f"atlas-kms:sourceIps.clusters names {missing!r}, which Atlas does not report for project "
                f"{s.project_id}; its addresses are not allowed yet. Run `pulumi up` again once it exists.",
                resource=self,
            )
        cidrs = list(addresses.cidrs)
        # What lands in the policy counts: adjacent extraCidrs may merge into a wide range.
        wide = [c for c in cidrs if is_wide(c)]
        if wide:
            pulumi.log.warn(
                f"atlas-kms:sourceIps.allowWideCidrs is true and the allowed addresses hold {', '.join(wide)}: the key can be "
                "used by Atlas's role from far more addresses than Atlas uses. Narrow them and remove allowWideCidrs.",
                resource=self,
            )

        key_provider = self._key_provider(name, s, args.get("default_tags") or {})
        key_opts = pulumi.ResourceOptions(parent=self, provider=key_provider)

        setup = mongodbatlas.CloudProviderAccessSetup(
            f"{name}-access-setup", project_id=project, provider_name="AWS", opts=child
        )
        trust = setup.aws_configs.apply(
            lambda cfgs: canonical_json(
                trust_policy(cfgs[0].atlas_aws_account_arn or "", cfgs[0].atlas_assumed_role_external_id or "")
            )
        )
        role = aws.iam.Role(
            f"{name}-role",
            description=pulumi.Output.concat("Assumed by MongoDB Atlas for encryption at rest of project ", project),
            assume_role_policy=trust,
            tags=tags,
            opts=child,
        )

        policy_cidrs = cidrs if s.enforce_ip else None
        managed_key_policy: pulumi.Output[str] | None = None
        if s.manages_key_policy:
            key_account_root = f"arn:{s.partition}:iam::{self._key_account_id(s)}:root"
            managed_key_policy = role.arn.apply(
                lambda arn: canonical_json(key_policy(key_account_root, arn, policy_cidrs))
            )

        key_guards: list[pulumi.Resource] = []
        if s.creates_key:
            key = aws.kms.Key(
                f"{name}-key",
                description=pulumi.Output.concat("Atlas encryption at rest, project ", project, f", stack {s.stack}"),
                key_usage="ENCRYPT_DECRYPT",
                customer_master_key_spec="SYMMETRIC_DEFAULT",
                enable_key_rotation=True,
                deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
                policy=managed_key_policy,
                region=s.key_region,
                tags=tags,
                # A deleted key makes every byte it encrypted unreadable: no update or
                # destroy may remove it without an explicit `pulumi state unprotect`.
                # https://www.pulumi.com/docs/iac/concepts/options/protect/
                opts=pulumi.ResourceOptions.merge(key_opts, pulumi.ResourceOptions(protect=True)),
            )
            aws.kms.Alias(
                f"{name}-key-alias", name=s.key_alias if known else pulumi.Output.concat(
                    "alias/atlas-kms/", project, "/", s.key_alias.rsplit("/", 1)[1]), target_key_id=key.key_id, region=s.key_region, opts=key_opts
            )
            key_arn: pulumi.Output[str] = key.arn
            key_guards.append(key)
        else:
            assert s.key_arn is not None
            key_arn = pulumi.Output.from_input(str(s.key_arn))
            if managed_key_policy is not None:
                key_guards.append(
                    aws.kms.KeyPolicy(
                        f"{name}-key-policy",
                        # The provider stores the bare key id and would show the ARN as a change on
                        # every preview (terraform-provider-aws issues #31297, #46432).
                        key_id=s.key_arn.key_id,
                        policy=managed_key_policy,
                        region=s.key_region,
                        # The key is not ours: on destroy, leave its policy in place rather
                        # than reset it under a running Atlas project.
                        # https://www.pulumi.com/docs/iac/concepts/options/retainondelete/
                        opts=pulumi.ResourceOptions.merge(key_opts, pulumi.ResourceOptions(retain_on_delete=True)),
                    )
                )

        role_policies = self._role_policies(name, s, plan, role, key_arn, child, tags)

        # Re-armed whenever the role is replaced (its unique id changes) or its trust policy changes.
        propagation = time.Sleep(
            f"{name}-role-propagation",
            create_duration=ROLE_PROPAGATION_WAIT,
            triggers={"roleUniqueId": role.unique_id, "trustPolicy": role.assume_role_policy},
            opts=child,
        )
        authorization = mongodbatlas.CloudProviderAccessAuthorization(
            f"{name}-access-authorization",
            project_id=project,
            role_id=setup.role_id,
            aws={"iam_assumed_role_arn": role.arn},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[propagation]),
        )

        # Atlas checks the key as soon as encryption at rest is configured: the role must
        # be authorized and already allowed to use the key, or the first update fails.
        # https://www.mongodb.com/docs/atlas/security-aws-kms/#enable-customer-managed-keys-with-aws-kms
        self.encryption_valid = pulumi.Output.from_input(False)
        if s.enables_encryption:
            encryption = mongodbatlas.EncryptionAtRest(
                f"{name}-encryption-at-rest",
                project_id=project,
                aws_kms_config={
                    "enabled": True,
                    "customer_master_key_id": key_arn,
                    "region": s.atlas_region,
                    "role_id": authorization.role_id,
                },
                enabled_for_search_nodes=s.enabled_for_search_nodes,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[authorization, *role_policies, *key_guards]),
            )
            # The engine returns aws_kms_config as a secret (the key ARN inside is sensitive), so all
            # derived from it is secret. Only this boolean is made readable, on purpose.
            self.encryption_valid = pulumi.Output.unsecret(encryption.aws_kms_config.apply(lambda c: bool(c and c.valid)))
        else:
            pulumi.log.warn(
                f"atlas-kms: the key {s.key_arn} belongs to account {s.key_arn.account if s.key_arn else '?'}. "
                "Encryption at rest is NOT enabled yet: send the stack output keyPolicyStatementForOwner to the "
                "key's owner, and once it is in the key policy set atlas-kms:keyAccount.keyPolicyGranted to true "
                "and run `pulumi up` again.",
                resource=self,
            )

        if s.alerts.enabled:
            self._alerts(name, s, project, webhook)

        self.key_arn = key_arn
        self.role_arn = role.arn
        self.atlas_role_id = setup.role_id
        # Output.from_input(list) makes one Output per element (thousands here); a value
        # produced by an apply stays one Output (see BENCHMARKS.md).
        self.allowed_cidrs = pulumi.Output.from_input(s.stack).apply(lambda _: list(cidrs))
        self.key_region = pulumi.Output.from_input(s.key_region)
        self.mode = pulumi.Output.from_input(s.mode.name.lower().replace("_", "-"))
        statement: pulumi.Output[dict[str, Any]] | None = None
        if s.mode is Mode.CROSS_ACCOUNT_EXISTING and not s.manages_key_policy:
            statement = role.arn.apply(lambda arn: key_user_statement(arn, policy_cidrs))
        self.key_policy_statement_for_owner = statement  # type: ignore[assignment]

        outputs: dict[str, Any] = {
            "keyArn": self.key_arn,
            "keyRegion": self.key_region,
            "mode": self.mode,
            "roleArn": self.role_arn,
            "atlasRoleId": self.atlas_role_id,
            "allowedCidrs": self.allowed_cidrs,
            "encryptionValid": self.encryption_valid,
        }
        if statement is not None:
            outputs["keyPolicyStatementForOwner"] = statement
        self.register_outputs(outputs)

    def _address_plan(self, s: Settings, project_known: bool) -> tuple[AddressSet, PolicyPlan]:
        invoke = pulumi.InvokeOptions(parent=self)
        control_plane = mongodbatlas.get_control_plane_ip_addresses(opts=invoke)
        clusters: list[ClusterAddresses] = []
        if project_known:
            clusters = project_clusters(mongodbatlas.get_project_ip_addresses(project_id=s.project_id, opts=invoke))
        try:
            addresses = build_address_set(control_plane_outbound(control_plane), clusters, s.selection)
            plan = plan_policies(
                addresses.cidrs, kind=s.policy_kind, enforce_ip=s.enforce_ip, manage_key_policy=s.manages_key_policy
            )
        except (AddressError, PolicySizeError) as exc:
            raise pulumi.RunError(f"atlas-kms: {exc}") from exc
        return addresses, plan

    def _alerts(self, name: str, s: Settings, project: pulumi.Input[str], webhook: pulumi.Input[str] | None) -> None:
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
                f"{name}-alert-{event.lower().replace('_', '-')}",
                project_id=project,
                event_type=event,
                enabled=True,
                notifications=notifications,
                opts=pulumi.ResourceOptions(parent=self),
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

    def _key_provider(self, name: str, s: Settings, default_tags: Mapping[str, str]) -> aws.Provider | None:
        if not s.needs_key_provider:
            return None
        assert s.key_account is not None and s.key_account.assume_role_arn is not None
        ka = s.key_account
        return aws.Provider(
            f"{name}-key-account",
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
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _role_policies(
        self,
        name: str,
        s: Settings,
        plan: PolicyPlan,
        role: aws.iam.Role,
        key_arn: pulumi.Output[str],
        child: pulumi.ResourceOptions,
        tags: Mapping[str, pulumi.Input[str]],
    ) -> list[pulumi.Resource]:
        documents = key_arn.apply(plan.role_documents)
        created: list[pulumi.Resource] = []
        count = max(1, len(plan.chunks))
        # Parts are written from the highest index down: part i waits for part i+1's attachment. With
        # the stable split (core/split.py) addresses only move into a new, higher part or out of a
        # removed one (which Pulumi deletes last), so no address that stays is ever allowed by no part
        # while the update runs.
        later: pulumi.Resource | None = None
        for i in reversed(range(count)):
            document: pulumi.Output[str] = documents.apply(lambda docs, i=i: docs[i])  # type: ignore[misc]
            after = pulumi.ResourceOptions(parent=self, depends_on=[later] if later is not None else None)
            if plan.kind == "inline":
                created.append(aws.iam.RolePolicy(f"{name}-kms-inline-{i + 1}", role=role.id, policy=document, opts=after))
                continue
            policy = aws.iam.Policy(
                f"{name}-kms-policy-{i + 1}",
                # No part count here: an IAM policy's description cannot change in place,
                # and a new part must not replace the existing ones.
                description=f"Atlas encryption at rest: KMS use from Atlas addresses, part {i + 1}",
                policy=document,
                tags=dict(tags),
                opts=after,
            )
            later = aws.iam.RolePolicyAttachment(
                f"{name}-kms-policy-{i + 1}-attachment", role=role.name, policy_arn=policy.arn, opts=child
            )
            created += [policy, later]
        return created
