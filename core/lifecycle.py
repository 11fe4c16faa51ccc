"""Which keys Atlas's role may use, and how, while keys change. Pure code: no Pulumi import.

Atlas keeps using the key it holds until a change of key has deployed ("Do not delete or disable the
CMK until your changes have deployed"), and it never re-encrypts a backup snapshot: a snapshot stays
encrypted with the key of its time, and a restore needs that key (and the role it was taken with).
https://www.mongodb.com/docs/atlas/security-aws-kms/#rotate-your-aws-customer-master-key
https://www.mongodb.com/docs/atlas/backup/cloud-backup/overview/#encryption-at-rest-using-customer-key-management

So every run plans from what Atlas reports now (the provider's `get_encryption_at_rest`):
- the *target* key is the one the stack names (`keyArn`, or the created generation `keyGeneration`);
- the key Atlas holds now, when it is another one, is *outgoing*: it keeps all three actions for the
  whole update that moves Atlas off it; the next run, once Atlas reports the target, lets it go;
- *retained* keys (`retainedKeyArns`, and every earlier created generation not retired) keep what a
  restore needs, `kms:Decrypt` and `kms:DescribeKey` (Atlas decrypts the snapshot's data key and
  checks the key at restore);
- any other key is let go (least privilege).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.arns import key_id_of
from core.policies import RESTORE_ACTIONS, USE_ACTIONS
from core.settings import NAMESPACE, Settings

__all__ = ["AtlasEncryption", "KeyPlan", "KeyRef", "LifecycleError", "plan_keys", "rotation_reminder_days"]


class LifecycleError(ValueError):
    """A key change that cannot be made safely; the message names the setting and the fix."""


@dataclass(frozen=True)
class AtlasEncryption:
    """The project's encryption-at-rest settings as Atlas reports them now (`get_encryption_at_rest`).

    A project that was never configured is the empty answer: not enabled, no key.
    """

    enabled: bool = False
    key_id: str | None = None  # customerMasterKeyID as Atlas holds it: a full ARN, or a bare id set by hand
    role_id: str | None = None
    valid: bool | None = None
    require_private_networking: bool = False
    enabled_for_search_nodes: bool | None = None

    @property
    def holds_key(self) -> bool:
        return self.enabled and bool(self.key_id)


def same_key(a: str, b: str) -> bool:
    """Whether two references name one key: full ARNs compare whole (the replicas of a multi-region key
    share their `mrk-` id and differ by region), a bare key id compares with an ARN's id.
    https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html
    """
    if ":key/" in a and ":key/" in b:
        return a == b
    return key_id_of(a) == key_id_of(b)


@dataclass(frozen=True)
class KeyRef:
    """A key by its ARN, or a generation this program creates (its ARN known once it exists)."""

    arn: str | None = None
    generation: int | None = None

    def describe(self) -> str:
        if self.generation is not None:
            return f"generation {self.generation}" + (f" ({self.arn})" if self.arn else " (created in this update)")
        return str(self.arn)

    def same_key(self, key: str) -> bool:
        return self.arn is not None and same_key(self.arn, key)


@dataclass(frozen=True)
class KeyPlan:
    """The keys of one run: the one Atlas is pointed at, the one it leaves, the ones restores need."""

    target: KeyRef
    outgoing: KeyRef | None
    retained: tuple[KeyRef, ...]
    # Created generations the program keeps registering (never dropped: a created key is never deleted).
    generations: tuple[int, ...]
    warnings: tuple[str, ...] = ()
    # The ARN of every generation that exists already (its region stays the one it was created in).
    existing: tuple[tuple[int, str], ...] = ()

    def arn_of(self, generation: int) -> str | None:
        return dict(self.existing).get(generation)

    @property
    def use(self) -> tuple[KeyRef, ...]:
        """Keys that get all three actions: the target, and the key Atlas holds until it has moved."""
        return (self.target,) if self.outgoing is None else (self.target, self.outgoing)

    def access_of(self, generation: int) -> tuple[str, ...]:
        """The actions Atlas's role gets on a created generation: use, restore, or none (retired)."""
        if any(k.generation == generation for k in self.use):
            return USE_ACTIONS
        if any(k.generation == generation for k in self.retained):
            return RESTORE_ACTIONS
        return ()


# Atlas's own default threshold for AWS_ENCRYPTION_KEY_NEEDS_ROTATION.
# https://www.mongodb.com/docs/atlas/reference/alert-resolutions/encryption-key-alerts/
ATLAS_DEFAULT_ROTATION_REMINDER_DAYS = 90


def rotation_reminder_days(settings: Settings) -> int:
    """Days after which Atlas reminds that the project's key has not changed.

    Atlas counts from the last change of the project's key and never sees KMS's automatic rotation
    (it keeps the ARN). A created key really rotates every `rotationPeriodInDays`, so the reminder
    follows that period; an existing key's rotation is its owner's, so Atlas's 90 days stay.
    """
    return settings.rotation_period_days if settings.creates_key else ATLAS_DEFAULT_ROTATION_REMINDER_DAYS


def _config_line(settings: Settings, arn: str) -> str:
    index = len(settings.retained_key_arns)
    return f"pulumi config set --path '{NAMESPACE}:retainedKeyArns[{index}]' {arn}"


def _target(settings: Settings, existing: Mapping[int, str]) -> tuple[KeyRef, set[int]]:
    """The key Atlas is to use, and every created generation the program keeps registering."""
    generations = set(existing)
    if not settings.creates_key:
        assert settings.key_arn is not None
        return KeyRef(arn=str(settings.key_arn)), generations
    # Generations are created one at a time: the program finds earlier ones by probing their aliases
    # upward until one is missing, so a skipped number would hide every generation above it later.
    highest = max(existing, default=0)
    if settings.key_generation not in existing and settings.key_generation != highest + 1:
        raise LifecycleError(
            f"{NAMESPACE}:keyGeneration: {settings.key_generation} skips a generation (the highest this stack "
            f"created is {highest or 'none yet'}); raise it one at a time: "
            f"`pulumi config set {NAMESPACE}:keyGeneration {highest + 1}`")
    generations.add(settings.key_generation)
    return KeyRef(arn=existing.get(settings.key_generation), generation=settings.key_generation), generations


def _known(settings: Settings, existing: Mapping[int, str], key: str) -> KeyRef | None:
    """A key the stack knows: a created generation, or a retained key."""
    for g, arn in existing.items():
        if same_key(arn, key):
            return KeyRef(arn=arn, generation=g)
    for arn_ in settings.retained_key_arns:
        if same_key(str(arn_), key):
            return KeyRef(arn=str(arn_))
    return None


def _outgoing(settings: Settings, atlas: AtlasEncryption, existing: Mapping[int, str], target: KeyRef,
              warnings: list[str]) -> KeyRef | None:
    """The key Atlas holds when it is not the target: usable until Atlas has moved."""
    if not atlas.holds_key or atlas.key_id is None or target.same_key(atlas.key_id):
        return None
    outgoing = _known(settings, existing, atlas.key_id)
    if outgoing is None:
        if ":key/" not in atlas.key_id:
            # IAM needs the ARN; a bare id set by hand names no region or account.
            raise LifecycleError(
                f"{NAMESPACE}:retainedKeyArns: Atlas holds the key {atlas.key_id!r} (a bare key id, not an ARN), and "
                "this update moves it to another key. Atlas keeps using it until the change has deployed, and its "
                "snapshots need it: add its full ARN to retainedKeyArns, then run `pulumi up` again")
        outgoing = KeyRef(arn=atlas.key_id)
        warnings.append(
            f"{NAMESPACE}: Atlas is moving off the key {atlas.key_id}. It stays usable for this update only; "
            f"every snapshot taken with it needs it to restore. Keep it: {_config_line(settings, atlas.key_id)}")
    if outgoing.generation is not None and outgoing.generation in settings.retired_generations:
        raise LifecycleError(
            f"{NAMESPACE}:retiredKeyGenerations: generation {outgoing.generation} is the key Atlas holds now; "
            "retire it only after Atlas reports the new key in use (the next `pulumi up`)")
    return outgoing


def plan_keys(settings: Settings, atlas: AtlasEncryption, existing: Mapping[int, str]) -> KeyPlan:
    """The key plan for one run.

    `existing` maps each created generation that exists now (found by its alias) to its ARN.
    Raises LifecycleError when the settings would deny Atlas a key it holds.
    """
    target, generations = _target(settings, existing)
    warnings: list[str] = []
    outgoing = _outgoing(settings, atlas, existing, target, warnings)

    def in_use(ref: KeyRef) -> bool:
        for k in (target, outgoing):
            if k is None:
                continue
            if (ref.generation is not None and k.generation == ref.generation) or (ref.arn and k.same_key(ref.arn)):
                return True
        return False

    retained: list[KeyRef] = []
    for g in sorted(generations):
        ref = KeyRef(arn=existing.get(g), generation=g)
        if g in existing and g not in settings.retired_generations and not in_use(ref):
            retained.append(ref)
    for arn in settings.retained_key_arns:
        ref = _known(settings, existing, str(arn)) or KeyRef(arn=str(arn))
        if ref.generation is None and not in_use(ref):
            retained.append(ref)  # a created generation listed by ARN is already above
    unknown_retired = sorted(set(settings.retired_generations) - set(existing))
    if unknown_retired:
        warnings.append(f"{NAMESPACE}:retiredKeyGenerations: {unknown_retired} name no key this stack created; "
                        "nothing to retire there")
    return KeyPlan(target=target, outgoing=outgoing, retained=tuple(retained),
                   generations=tuple(sorted(generations)), warnings=tuple(warnings),
                   existing=tuple(sorted(existing.items())))
