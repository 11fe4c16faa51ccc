"""plan(settings, facts): everything one run registers, decided in pure code before anything exists.

The component registers this plan (components/atlas_kms.py); the offline preview and the simulator run
the component, so they see the same plan; the drift command judges against the same settings and
documents. A refusal is a PlanError whose message names the setting and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from core.arns import region_of
from core.errors import PolicySizeError
from core.facts import ENCRYPTION_AT_REST_FEATURE, AtlasRole, Facts, PrivateEndpointState
from core.ips import AddressError, AddressSet, build_address_set, is_wide
from core.lifecycle import AtlasEncryption, KeyPlan, KeyRef, LifecycleError, plan_keys
from core.policies import KeyAccess, PolicyPlan, canonical_json, key_policy, key_user_statement, plan_policies
from core.settings import MAX_KEY_GENERATION, Mode, Settings


class PlanError(ValueError):
    """A run the program refuses before registering anything; the message names the setting and the fix."""


@dataclass(frozen=True)
class PrivatePath:
    """This run's private path: whether Atlas must use PrivateLink, and whether the role may use it."""

    require: bool
    grant: bool


@dataclass(frozen=True)
class Note:
    """A message for the person running the update: a warning (something to fix) or information."""

    level: Literal["warning", "info"]
    message: str


@dataclass(frozen=True)
class Takeover:
    """First contact with encryption at rest this stack did not set up, and how this run takes it over.

    `adopt`: the IAM role Atlas uses becomes the stack's (imported, with its Atlas setup and encryption at
    rest); `move`: the stack makes its own role and moves Atlas to it, the old role is left to its owner.
    """

    way: Literal["adopt", "move"]
    atlas_role_id: str
    iam_role_arn: str
    import_role: str | None = None  # the IAM role's name (its import id)
    import_setup: str | None = None  # {projectId}-AWS-{roleId}
    import_encryption: str | None = None  # the project id


@dataclass(frozen=True)
class Plan:
    settings: Settings
    facts: Facts
    addresses: AddressSet
    keys: KeyPlan
    private: PrivatePath
    policies: PolicyPlan
    notes: tuple[Note, ...]
    takeover: Takeover | None = None

    @property
    def role_name(self) -> tuple[str, str] | None:
        """(name, path) of an adopted role: kept as they are, for another name or path replaces a role."""
        adopt = self.settings.adopt
        return (adopt.role_arn.name, adopt.role_arn.path) if adopt is not None and adopt.role_arn is not None else None

    @property
    def allowed_cidrs(self) -> list[str]:
        """The addresses the policies allow (none with network private: there is no public path)."""
        return list(self.addresses.cidrs) if self.settings.uses_public else []

    @property
    def policy_cidrs(self) -> list[str] | None:
        """The source-IP condition's addresses; None: the condition is opted out (sourceIps.enforce false)."""
        return list(self.addresses.cidrs) if self.settings.enforce_ip else None

    @property
    def key_account_root(self) -> str:
        s = self.settings
        if s.key_account is not None and s.key_account.account_id:
            account = s.key_account.account_id
        elif s.key_arn is not None:
            account = s.key_arn.account
        elif s.role_account is not None:
            account = s.role_account
        else:
            raise PlanError("atlas-kms: the role's AWS account is unknown; pass role_account in the settings")
        return f"arn:{s.partition}:iam::{account}:root"

    @property
    def role_policy_parts(self) -> int:
        """How many IP-restricted role policies (or inline policies) the role carries."""
        return max(1, len(self.policies.chunks)) if self.policies.public or self.policies.kind == "inline" else 0

    def generation_region(self, generation: int) -> str:
        """An existing generation stays where it was created: another region would replace it."""
        known = self.keys.arn_of(generation)
        return region_of(known) if known else self.settings.key_region

    def key_policy_document(self, role_arn: str, actions: Sequence[str] | None = None) -> str:
        """The key policy the program writes: the account's administrators, and Atlas's role (and, while a
        replaced role takes over, the role Atlas still uses) with `actions` from Atlas's addresses."""
        extra = {} if actions is None else {"actions": actions}
        roles = [role_arn, *self.facts.stack_roles]
        return canonical_json(key_policy(self.key_account_root, roles, self.policy_cidrs, public=self.policies.public,
                                         private=self.policies.private, **extra))

    @property
    def owner_grants(self) -> bool:
        """Key mode 4 without manageKeyPolicy: the key's owner adds the role's statements to the key policy."""
        return self.settings.mode is Mode.CROSS_ACCOUNT_EXISTING and not self.settings.manages_key_policy

    def owner_statements(self, role_arn: str) -> list[dict[str, Any]] | None:
        """Key mode 4: every statement the key's owner must add (the public path's, then the private path's)."""
        if not self.owner_grants:
            return None
        out = [key_user_statement(role_arn, self.policy_cidrs)] if self.policies.public else []
        if self.policies.private is not None:
            out.append(key_user_statement(role_arn, None, private=self.policies.private))
        return out

    def access(self, arn_of: Callable[[int], str]) -> KeyAccess:
        """The keys Atlas's role may use and restore from, once every created generation's ARN is known."""
        def resolve(ref: KeyRef) -> str:
            return arn_of(ref.generation) if ref.generation is not None else str(ref.arn)

        # A private endpoint in another region reaches the multi-region key's replica there.
        use = [*(resolve(k) for k in self.keys.use), *self.settings.replica_key_arns]
        return KeyAccess.of(use, [resolve(k) for k in self.keys.retained])


def plan(settings: Settings, facts: Facts) -> Plan:
    """Decide the whole run; raise PlanError before anything is registered."""
    addresses = _addresses(settings, facts)
    try:
        keys = plan_keys(settings, facts.atlas, facts.created_generations)
    except LifecycleError as exc:
        raise PlanError(f"atlas-kms: {exc}") from exc
    private, private_notes = private_path(settings, facts.atlas, facts.endpoints)
    try:
        policies = plan_policies(addresses.cidrs, kind=settings.policy_kind, enforce_ip=settings.enforce_ip,
                                 manage_key_policy=settings.manages_key_policy,
                                 use_keys=len(keys.use) + len(settings.replica_key_arns),
                                 restore_keys=len(keys.retained), public=settings.uses_public,
                                 private=settings.private_endpoint_ids if private.grant else None)
    except PolicySizeError as exc:
        raise PlanError(f"atlas-kms: {exc}") from exc
    takeover, takeover_notes = first_contact(settings, facts)
    notes = (*takeover_notes, *private_notes, *_notes(settings, facts, addresses, keys))
    return Plan(settings=settings, facts=facts, addresses=addresses, keys=keys, private=private, policies=policies,
                notes=notes, takeover=takeover)


def first_contact(s: Settings, facts: Facts) -> tuple[Takeover | None, tuple[Note, ...]]:
    """Compare the role Atlas's encryption at rest uses with the stack's own: never take over by surprise.

    Atlas's `encryptionAtRest` GET does not return its role (roleId is write-only in the Admin API spec);
    `cloudProviderAccess` says which role serves ENCRYPTION_AT_REST (components/lookups.py reads it).
    """
    using = facts.encryption_role
    adopt = s.adopt
    notes: tuple[Note, ...] = ()
    if adopt is not None and adopt.move_from is not None and facts.moved_from_exists:
        notes = (Note("warning", f"atlas-kms:adopt.moveFrom: the role {adopt.move_from} is left to its owner and still "
                                 "exists; while it may use the key, the address restriction can be bypassed through it. "
                                 "Ask its owner to remove its KMS grant or delete it (`python -m drift` reports whether "
                                 "it can still use the key), then remove atlas-kms:adopt."),)
    if using is None or using.iam_role_arn in facts.stack_roles:
        if adopt is not None and adopt.role_arn is not None and using is None and facts.atlas.holds_key:
            raise PlanError(f"atlas-kms:adopt.roleArn: Atlas reports no role for encryption at rest in project "
                            f"{s.project_id}, so there is nothing to take over: remove atlas-kms:adopt.")
        return None, notes
    assert using.iam_role_arn is not None
    if adopt is None:
        raise PlanError(_first_contact_message(s, facts, using))
    named = adopt.role
    if str(named) != using.iam_role_arn:
        setting = "roleArn" if adopt.role_arn is not None else "moveFrom"
        raise PlanError(f"atlas-kms:adopt.{setting}: Atlas uses the role {using.iam_role_arn} (Atlas role id "
                        f"{using.role_id}) for encryption at rest, not {named}: set atlas-kms:adopt.{setting} to "
                        f"{using.iam_role_arn}.")
    if adopt.move_from is not None:
        return Takeover("move", using.role_id, using.iam_role_arn, import_encryption=s.project_id), notes
    _check_adoptable(s, facts, using)
    return Takeover("adopt", using.role_id, using.iam_role_arn, import_role=named.name,
                    import_setup=f"{s.project_id}-AWS-{using.role_id}", import_encryption=s.project_id), notes


def _first_contact_message(s: Settings, facts: Facts, using: AtlasRole) -> str:
    key = facts.atlas.key_id or "(none reported)"
    return (f"atlas-kms: Atlas already encrypts project {s.project_id} with the key {key} through a role this stack "
            f"did not create: Atlas role id {using.role_id}, IAM role {using.iam_role_arn}, used by Atlas for "
            f"{', '.join(using.features)}. Nothing was registered: taking it over silently would leave that role "
            "authorized with its own grants, outside the address restriction. Choose one and run `pulumi up` again:\n"
            f"  - take that role over (imported with its Atlas setup and encryption at rest; it keeps its name and "
            f"only this program's grants): pulumi config set --path 'atlas-kms:adopt.roleArn' {using.iam_role_arn}\n"
            f"  - or make this stack's own role and move Atlas to it (the old role is left to its owner): "
            f"pulumi config set --path 'atlas-kms:adopt.moveFrom' {using.iam_role_arn}\n"
            "Give the key Atlas uses as atlas-kms:keyArn (README, \"Taking over an existing setup\").")


def _check_adoptable(s: Settings, facts: Facts, using: AtlasRole) -> None:
    """adopt.roleArn: only a role that trusts Atlas's principal with this Atlas role's external id, and that
    no other Atlas feature uses (the program writes its policies exclusively)."""
    found = facts.adoption.role if facts.adoption else None
    if found is None:
        raise PlanError(f"atlas-kms:adopt.roleArn: IAM has no role {using.iam_role_arn} in this account; Atlas's "
                        "authorization names a role that was deleted. Use atlas-kms:adopt.moveFrom instead.")
    others = [f for f in using.features if f != ENCRYPTION_AT_REST_FEATURE]
    if others:
        raise PlanError(f"atlas-kms:adopt.roleArn: Atlas also uses the role {using.iam_role_arn} for {', '.join(others)}; "
                        "this program owns an adopted role's policies exclusively and would remove what those "
                        "features need. Use atlas-kms:adopt.moveFrom (a role of this stack's own) instead.")
    assert facts.adoption is not None
    if not trusts(found.trust_policy, facts.adoption.atlas_principal, facts.adoption.external_id):
        raise PlanError(f"atlas-kms:adopt.roleArn: the role {using.iam_role_arn} does not trust Atlas's principal "
                        f"{facts.adoption.atlas_principal or '(unknown)'} with the external id of Atlas role "
                        f"{using.role_id} (sts:ExternalId {facts.adoption.external_id or '(unknown)'}), so it is not the "
                        "role Atlas's setup expects. Use atlas-kms:adopt.moveFrom instead.")


def trusts(policy: Mapping[str, Any] | None, principal: str, external_id: str) -> bool:
    """Whether a trust policy lets `principal` assume the role with `external_id` (an Allow of sts:AssumeRole
    with StringEquals sts:ExternalId), as Atlas's setup asks.
    https://www.mongodb.com/docs/atlas/security/set-up-unified-aws-access/"""
    if not policy or not principal or not external_id:
        return False
    statements = policy.get("Statement") or []
    for st in statements if isinstance(statements, list) else [statements]:
        if not isinstance(st, Mapping) or st.get("Effect") != "Allow":
            continue
        actions = st.get("Action")
        aws = (st.get("Principal") or {}).get("AWS") if isinstance(st.get("Principal"), Mapping) else None
        # Condition key names are case-insensitive in IAM (sts:ExternalId, sts:externalid).
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html
        equals = (st.get("Condition") or {}).get("StringEquals") or {}
        ids = next((v for k, v in equals.items() if k.lower() == "sts:externalid"), None)
        if ("sts:AssumeRole" in ([actions] if isinstance(actions, str) else actions or [])
                and principal in ([aws] if isinstance(aws, str) else aws or [])
                and external_id in ([ids] if isinstance(ids, str) else ids or [])):
            return True
    return False


def _addresses(settings: Settings, facts: Facts) -> AddressSet:
    try:
        return build_address_set(facts.control_plane, list(facts.clusters), settings.selection)
    except AddressError as exc:
        raise PlanError(f"atlas-kms: {exc}") from exc


def private_path(s: Settings, atlas: AtlasEncryption, endpoints: Sequence[PrivateEndpointState],
                 ) -> tuple[PrivatePath, tuple[Note, ...]]:
    """Whether Atlas must use AWS PrivateLink this run, and whether its private path is granted.

    MongoDB's order: requirePrivateNetworking on in place, then the endpoints; off again only once
    the endpoints are gone (Atlas refuses CANNOT_DISABLE_ENCRYPTION_AT_REST_REQUIRE_PRIVATE_NETWORKING_
    WHILE_PRIVATE_ENDPOINTS_EXIST). So leaving the private path takes two runs, and the first keeps
    the private grant while Atlas may still use it.
    https://www.mongodb.com/docs/atlas/security/aws-kms-over-private-endpoint/
    """
    if s.network == "private" and atlas.holds_key and not atlas.require_private_networking:
        raise PlanError(
            f"atlas-kms:network: Atlas uses the key {atlas.key_id} over the public path today, and private would "
            "drop that path before Atlas's private endpoints exist. Move in two steps: set atlas-kms:network "
            "both and run `pulumi up` (Atlas creates the endpoints; wait until the stack output privateEndpoints "
            "shows every one ACTIVE), then set atlas-kms:network private and run `pulumi up` again.")
    if s.network == "private" and atlas.holds_key:
        active = {e.region for e in endpoints if e.status == "ACTIVE"}
        waiting = [r for r in s.private_endpoint_regions if r not in active]
        if waiting:
            raise PlanError(
                f"atlas-kms:network: private would drop the public path, but Atlas's KMS private endpoint is not "
                f"ACTIVE in {', '.join(waiting)} (see the stack output privateEndpoints). Keep atlas-kms:network "
                "both and run `pulumi up` again until every endpoint is ACTIVE, then set it to private.")
    if s.uses_private:
        return PrivatePath(require=True, grant=True), ()
    leaving = atlas.require_private_networking and bool(endpoints)
    notes = (Note("info", "atlas-kms: leaving AWS PrivateLink: this update deletes Atlas's KMS private endpoints and "
                          "keeps requirePrivateNetworking (Atlas refuses to turn it off while endpoints exist); run "
                          "`pulumi up` again to turn it off."),) if leaving else ()
    return PrivatePath(require=leaving, grant=leaving or atlas.require_private_networking), notes


def _notes(s: Settings, facts: Facts, addresses: AddressSet, keys: KeyPlan) -> tuple[Note, ...]:
    notes: list[Note] = []
    if not facts.project_known:
        notes.append(Note("info", "atlas-kms: projectId is not known yet (the project is created in this update): "
                                  "planned with Atlas's control-plane addresses only; a new project has no clusters."))
    if not s.enforce_ip:
        notes.append(Note("warning", "atlas-kms:sourceIps.enforce is false: the KMS key can be used by Atlas's role "
                                     "from ANY address. This is an explicit opt-out of the source-IP condition; set it "
                                     "back to true."))
    for missing in addresses.missing_clusters:
        notes.append(Note("warning", f"atlas-kms:sourceIps.clusters names {missing!r}, which Atlas does not report "
                                     f"for project {s.project_id}; its addresses are not allowed yet. Run `pulumi up` "
                                     "again once it exists."))
    # What lands in the policy counts: adjacent extraCidrs may merge into a wide range.
    wide = [c for c in addresses.cidrs if is_wide(c)]
    if wide:
        notes.append(Note("warning", f"atlas-kms:sourceIps.allowWideCidrs is true and the allowed addresses hold "
                                     f"{', '.join(wide)}: the key can be used by Atlas's role from far more addresses "
                                     "than Atlas uses. Narrow them and remove allowWideCidrs."))
    notes += [Note("warning", message) for message in keys.warnings]
    if keys.outgoing is not None:
        notes.append(Note("info", f"atlas-kms: Atlas moves from the key {keys.outgoing.describe()} to "
                                  f"{keys.target.describe()}. Both stay usable for this update; run `pulumi up` again "
                                  "once Atlas reports the new key (encryptionValid true) to narrow the old one to what "
                                  "restores need."))
    # The provider sends our value on update; turning search-node encryption on where Atlas has it
    # off re-syncs the search nodes and rebuilds their indexes (MongoDB's atlas-aws module, PR #26).
    atlas = facts.atlas
    if atlas.holds_key and atlas.enabled_for_search_nodes is False and s.enabled_for_search_nodes:
        notes.append(Note("warning", "atlas-kms:enabledForSearchNodes is true but Atlas has it off for this project: "
                                     "this update turns it on, which re-syncs the Atlas Search nodes and rebuilds their "
                                     "indexes (searches may be degraded while it runs). Set "
                                     "atlas-kms:enabledForSearchNodes false to keep Atlas's setting."))
    return tuple(notes)


def probe_regions(settings: Settings, atlas: AtlasEncryption) -> list[str]:
    """Where created generations may be: the key's region, and the region of the key Atlas holds."""
    regions = [settings.key_region]
    if atlas.key_id and ":key/" in atlas.key_id and region_of(atlas.key_id) not in regions:
        regions.append(region_of(atlas.key_id))
    return regions


def probe_generations(settings: Settings, regions: Sequence[str],
                      lookup: Callable[[str, str], str | None]) -> dict[int, str]:
    """The key generations this stack created, found by their aliases: generation -> key ARN.

    `lookup(alias, region)` answers the key ARN an alias names, or None when the alias does not exist.
    Probed from generation 1 upward until one is missing (generations are raised one at a time, so only a
    retired or skipped number below keyGeneration can be missing before the last), in every region
    given, so that a key the stack created is still found (and kept) after keyArn, keyRegion or a lower
    keyGeneration is set: dropping it from the program would make the engine delete a protected key.
    """
    found: dict[int, str] = {}
    for region in regions:
        for generation in range(1, MAX_KEY_GENERATION + 1):
            arn = lookup(settings.generation_alias(generation), region)
            if arn is None:
                if generation >= settings.key_generation or generation > max(found, default=0):
                    break
                continue
            found.setdefault(generation, arn)
    return found
