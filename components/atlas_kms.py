"""AtlasKmsEncryption: Atlas encryption at rest with an AWS KMS key, wired safely.

This module only wires resources; every decision (addresses, policy documents,
budgets, settings) is made by the pure functions in `core/` and `config/`.

It is also served to every Pulumi language as a component package (provider/): the schema is
inferred from the type hints below, read at run time. So this module has no
`from __future__ import annotations` (the analyzer would get strings), and the Args are a
TypedDict (at `construct` they arrive as a plain dict).
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict, TypeVar

import pulumi
import pulumi_aws as aws
import pulumi_mongodbatlas as mongodbatlas
import pulumiverse_time as time

from components.lookups import created_generations, gather, read_identity
from config.args import config_from_args
from config.settings import SettingsError, parse_settings
from core.facts import Facts
from core.lifecycle import rotation_reminder_days
from core.plan import Note, Plan, PlanError, first_contact, plan
from core.policies import KeyAccess, canonical_json, trust_policy
from core.settings import TAG_PROJECT, Settings

COMPONENT_TYPE = "atlas-kms:index:AtlasKmsEncryption"
T = TypeVar("T")

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


class AdoptArgs(TypedDict):
    """First contact with encryption at rest set up by hand or by another tool (stack setting `adopt`): one of the two."""

    role_arn: NotRequired[str]
    """The ARN of the IAM role Atlas uses now: the component imports it (and its Atlas setup and encryption at rest) and keeps only its own grants on it."""
    move_from: NotRequired[str]
    """The ARN of the IAM role Atlas uses now: the component makes its own role and moves Atlas to it; that role is left to its owner (warned about on every run while it can still use the key)."""


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
    adopt: NotRequired[AdoptArgs]
    """Take over encryption at rest that Atlas already runs through a role this stack did not create: roleArn (import that role) or moveFrom (a new role)."""


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


def _refused(decide: Callable[[], T]) -> T:
    """A decision of core/plan.py; its refusal stops the program with its message, nothing registered."""
    try:
        return decide()
    except PlanError as exc:
        raise pulumi.RunError(str(exc)) from exc


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

        # Facts -> plan -> resources: read what exists, decide everything, then register the plan.
        identity = read_identity(self)
        s = _settings_or_raise(config, stack=pulumi.get_stack(), aws_region=identity.region, gov=gov,
                               role_account=identity.account, role_partition=identity.partition)
        facts = gather(self, s, known)
        # First contact is settled before any child is registered, the key account's provider included.
        self._first_contact(s, facts)
        key_provider = self._key_provider(s, args.get("default_tags") or {})
        p = self._plan(s, created_generations(self, s, facts, key_provider))
        self._report(p.notes)
        # An Output keeps its dependency on the resource it comes from (a mongodbatlas.Project).
        project: pulumi.Input[str] = project_input if isinstance(project_input, pulumi.Output) else s.project_id
        webhook = (args.get("alerts") or {}).get("webhook_url")
        self._register(p, project, key_provider, webhook)

    @staticmethod
    def _first_contact(s: Settings, facts: Facts) -> None:
        _refused(lambda: first_contact(s, facts))

    @staticmethod
    def _plan(s: Settings, facts: Facts) -> Plan:
        return _refused(lambda: plan(s, facts))

    def _report(self, notes: Sequence[Note]) -> None:
        for note in notes:
            log = pulumi.log.warn if note.level == "warning" else pulumi.log.info
            log(note.message, resource=self)

    def _register(self, p: Plan, project: pulumi.Input[str], key_provider: aws.Provider | None,
                  webhook: pulumi.Input[str] | None) -> None:
        """The plan's resources, in dependency order, and the component's outputs."""
        s = p.settings
        tags: dict[str, pulumi.Input[str]] = {**s.tags, TAG_PROJECT: project}
        self.setup, self.role = self._atlas_role(p, project, tags)
        self.keys = self._keys(p, self.role, key_provider, project, tags)
        self.role_policies = self._role_policies(p, self.role, self.keys.access, tags)
        self.exclusive = self._exclusive_policies(self.role, self.role_policies)
        grants = [*self.role_policies, *self.keys.guards]
        self.authorization = self._authorization(project, self.setup, self.role, grants)
        self.encryption, self.encryption_valid = self._encryption(p, project, self.keys.target_arn, self.authorization,
                                                                  grants)
        self.private_endpoints = self._private_endpoints(s, project, self.encryption)
        if s.alerts.enabled:
            self._alerts(s, project, webhook)
        self._outputs(p)

    def _outputs(self, p: Plan) -> None:
        s = p.settings
        self.key_arn = self.keys.target_arn
        self.role_arn = self.role.arn
        self.atlas_role_id = self.setup.role_id
        # Output.from_input(list) makes one Output per element (thousands here); a value
        # produced by an apply stays one Output (see BENCHMARKS.md).
        cidrs = p.allowed_cidrs
        self.allowed_cidrs = pulumi.Output.from_input(s.stack).apply(lambda _: list(cidrs))
        self.key_region = pulumi.Output.from_input(s.key_region)
        self.mode = pulumi.Output.from_input(s.mode.name.lower().replace("_", "-"))
        self.retained_key_arns = self.keys.access.apply(lambda a: list(a.restore))
        statement: pulumi.Output[dict[str, Any]] | None = None
        statements: pulumi.Output[list[dict[str, Any]]] | None = None
        if p.owner_grants:
            statements = self.role.arn.apply(lambda arn: p.owner_statements(arn) or [])
            statement = statements.apply(lambda found: found[0])
        self.key_policy_statement_for_owner = statement  # type: ignore[assignment]
        self.key_policy_statements_for_owner = statements  # type: ignore[assignment]
        outputs: dict[str, Any] = {
            "keyArn": self.key_arn, "keyRegion": self.key_region, "mode": self.mode, "roleArn": self.role_arn,
            "atlasRoleId": self.atlas_role_id, "allowedCidrs": self.allowed_cidrs,
            "encryptionValid": self.encryption_valid, "retainedKeyArns": self.retained_key_arns,
            "privateEndpoints": self.private_endpoints,
        }
        if statement is not None:
            outputs["keyPolicyStatementForOwner"] = statement
            outputs["keyPolicyStatementsForOwner"] = statements
        self.register_outputs(outputs)

    # -- what is registered, in dependency order ---------------------------------------------------

    def _child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _atlas_role(self, p: Plan, project: pulumi.Input[str],
                    tags: Mapping[str, pulumi.Input[str]]) -> tuple[mongodbatlas.CloudProviderAccessSetup, aws.iam.Role]:
        """Atlas's cloud provider access setup, and the role trusting Atlas's principal with its external id.

        Taken over on first contact (`adopt.roleArn`): both are imported, so the preview shows imports and
        in-place updates, never a create of what exists (import ids: the role's name; the setup's
        `{projectId}-AWS-{roleId}`, pulumi-mongodbatlas docs). An adopted role keeps its name and path:
        another name or path replaces an IAM role.
        """
        takeover = p.takeover
        setup = mongodbatlas.CloudProviderAccessSetup(
            f"{self._name}-access-setup", project_id=project, provider_name="AWS",
            # The provider's update of project_id only clears the id: another project needs a new setup.
            # (terraform-provider-mongodbatlas internal/service/cloudprovideraccess, setup resource)
            opts=self._child(replace_on_changes=["projectId"],
                             import_=takeover.import_setup if takeover is not None else None),
        )
        trust = setup.aws_configs.apply(
            lambda cfgs: canonical_json(
                trust_policy(cfgs[0].atlas_aws_account_arn or "", cfgs[0].atlas_assumed_role_external_id or "")
            )
        )
        name, path = p.role_name or (None, None)
        role = aws.iam.Role(
            f"{self._name}-role",
            name=name,
            path=path,
            description=pulumi.Output.concat("Assumed by MongoDB Atlas for encryption at rest of project ", project),
            assume_role_policy=trust,
            tags=dict(tags),
            opts=self._child(import_=takeover.import_role if takeover is not None else None),
        )
        return setup, role

    def _exclusive_policies(self, role: aws.iam.Role, policies: Sequence[pulumi.Resource]) -> list[pulumi.Resource]:
        """Only the program's grants stay on Atlas's role, adopted or not: any other managed attachment or
        inline policy is removed, after the program's own are in place (so a hand-made grant goes only once
        the program's grant allows Atlas). Their drift is seen only with `pulumi up --refresh` (pulumi-aws
        issue 4766); the drift command reports such a policy on every run.
        https://www.pulumi.com/registry/packages/aws/api-docs/iam/rolepolicyattachmentsexclusive/
        """
        managed = [r for r in policies if isinstance(r, aws.iam.Policy)]
        inline = [r for r in policies if isinstance(r, aws.iam.RolePolicy)]
        after = self._child(depends_on=list(policies))
        return [
            aws.iam.RolePolicyAttachmentsExclusive(f"{self._name}-role-attachments", role_name=role.name,
                                                   policy_arns=[m.arn for m in managed], opts=after),
            aws.iam.RolePoliciesExclusive(f"{self._name}-role-inline-policies", role_name=role.name,
                                          policy_names=[i.name for i in inline], opts=after),
        ]

    def _keys(self, p: Plan, role: aws.iam.Role, key_provider: aws.Provider | None, project: pulumi.Input[str],
              tags: Mapping[str, pulumi.Input[str]]) -> _Keys:
        """Every created generation (never dropped, never deleted), the key policy the program writes,
        and the ARNs of the keys Atlas's role may use and restore from."""
        key_opts = self._child(provider=key_provider)
        created: dict[int, pulumi.Output[str]] = {}
        guards: list[pulumi.Resource] = []
        for generation in p.keys.generations:
            key = self._created_key(p, generation, role, project, tags, key_opts)
            created[generation] = key.arn
            if p.keys.access_of(generation):
                guards.append(key)
        if p.settings.manages_key_policy and not p.settings.creates_key:
            guards.append(self._existing_key_policy(p, role, key_opts))
        generations = pulumi.Output.all(*[created[g] for g in sorted(created)])
        known = sorted(created)
        access = generations.apply(lambda arns: p.access(dict(zip(known, arns, strict=True)).__getitem__))
        target = p.keys.target
        target_arn = created[target.generation] if target.generation is not None else pulumi.Output.from_input(str(target.arn))
        return _Keys(target_arn=target_arn, access=access, guards=guards)

    def _created_key(self, p: Plan, generation: int, role: aws.iam.Role, project: pulumi.Input[str],
                     tags: Mapping[str, pulumi.Input[str]], key_opts: pulumi.ResourceOptions) -> aws.kms.Key:
        s = p.settings
        actions = p.keys.access_of(generation)
        region = p.generation_region(generation)
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
            policy=role.arn.apply(lambda arn: p.key_policy_document(arn, actions)),
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
        return key

    def _existing_key_policy(self, p: Plan, role: aws.iam.Role, key_opts: pulumi.ResourceOptions) -> aws.kms.KeyPolicy:
        s = p.settings
        assert s.key_arn is not None
        return aws.kms.KeyPolicy(
            f"{self._name}-key-policy",
            # The provider stores the bare key id and would show the ARN as a change on
            # every preview (terraform-provider-aws issues #31297, #46432).
            key_id=s.key_arn.key_id,
            policy=role.arn.apply(p.key_policy_document),
            region=s.key_region,
            # The key is not ours: on destroy, leave its policy in place rather
            # than reset it under a running Atlas project.
            # https://www.pulumi.com/docs/iac/concepts/options/retainondelete/
            # The provider's update writes the policy to the key of the stored id and ignores a new
            # key_id (terraform-provider-aws internal/service/kms/key_policy.go): another key needs
            # a new resource.
            opts=pulumi.ResourceOptions.merge(key_opts, pulumi.ResourceOptions(
                retain_on_delete=True, replace_on_changes=["keyId"])),
        )

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

    def _role_policies(self, p: Plan, role: aws.iam.Role, access: pulumi.Output[KeyAccess],
                       tags: Mapping[str, pulumi.Input[str]]) -> list[pulumi.Resource]:
        plan = p.policies
        documents = access.apply(plan.role_documents)
        created: list[pulumi.Resource] = []
        count = p.role_policy_parts
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
        role's grants (its policies and the key policies naming it) come first. On first contact with an
        adopted role it is created anew for the same Atlas role: it cannot be imported, and its create
        only PATCHes the role's ARN, the one Atlas already has, so re-creating it changes nothing in Atlas
        (pulumi-mongodbatlas docs, cloud_provider_access_authorization: "cannot be imported").
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

    def _encryption(self, p: Plan, project: pulumi.Input[str], key_arn: pulumi.Output[str],
                    authorization: mongodbatlas.CloudProviderAccessAuthorization, grants: Sequence[pulumi.Resource],
                    ) -> tuple[mongodbatlas.EncryptionAtRest | None, pulumi.Output[bool]]:
        """The project's encryption-at-rest setting, pointed at the target key once it may be used.

        Atlas checks the key as soon as encryption at rest is configured: the role must be authorized
        and already allowed to use the key, or the update fails. A changed key is an in-place PATCH.
        https://www.mongodb.com/docs/atlas/security-aws-kms/#enable-customer-managed-keys-with-aws-kms
        """
        s = p.settings
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
                "require_private_networking": p.private.require,
            },
            enabled_for_search_nodes=s.enabled_for_search_nodes,
            # On first contact the project's existing setting is imported (id: the project id) and updated
            # in place: the provider's create is a PATCH that would overwrite it unannounced.
            opts=self._child(depends_on=[authorization, *grants],
                             import_=p.takeover.import_encryption if p.takeover is not None else None),
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
