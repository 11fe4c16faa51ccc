"""Backup snapshots whose key Atlas's role can no longer use: the `restore` finding. Pure code.

Atlas never re-encrypts a snapshot: it stays encrypted with the key of its time, Atlas records that
key (`masterKeyUUID`, the KMS key id) and uses it, with the role, at restore. A restore decrypts with
that key and describes it first, so both kms:Decrypt and kms:DescribeKey must be allowed from Atlas's
addresses for as long as the snapshot is retained.
https://www.mongodb.com/docs/atlas/backup/cloud-backup/overview/#encryption-at-rest-using-customer-key-management
https://www.mongodb.com/docs/api/doc/atlas-admin-api-v2/operation/operation-listgroupclusterbackupsnapshots
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from core.arns import key_id_of
from core.facts import Snapshot
from core.ips import AddressSet
from core.policies import RESTORE_ACTIONS
from drift.evaluate import Ranges


@dataclass(frozen=True)
class EvaluatedAccess:
    """What the role may do with one key, as the evaluator computed it; `arn` None: the stack does not know it."""

    arn: str | None
    allowed: Mapping[str, Ranges]


@dataclass(frozen=True)
class RestoreGap:
    key_id: str
    arn: str | None
    snapshots: tuple[Snapshot, ...]
    lacking: tuple[str, ...]  # actions the role lacks from some of Atlas's addresses
    cidrs: tuple[str, ...]  # Atlas's addresses from which a restore would be denied

    def detail(self, setting_line: str) -> str:
        clusters = ", ".join(sorted({s.cluster for s in self.snapshots}))
        ids = ", ".join(s.id for s in self.snapshots[:3]) + (" ..." if len(self.snapshots) > 3 else "")
        oldest = min(s.created_at for s in self.snapshots)
        lasting = max((s.expires_at or "never" for s in self.snapshots), key=lambda e: (e == "never", e))
        what = (f"{len(self.snapshots)} snapshot(s) of {clusters} ({ids}; taken since {oldest}, kept until {lasting}) "
                f"are encrypted with key {self.arn or self.key_id}")
        if self.arn is None:
            return (f"{what}, which is neither this stack's key nor in atlas-kms:retainedKeyArns: restoring them is "
                    f"DENIED. Keep it: {setting_line}, then `pulumi up`")
        return (f"{what}; the role lacks {', '.join(self.lacking)} on it from {len(self.cidrs)} of Atlas's addresses: "
                f"restoring them is DENIED. Keep it: {setting_line}, then `pulumi up`")


def retained_snapshots(snapshots: Iterable[Snapshot], now: datetime) -> list[Snapshot]:
    """Snapshots a restore may still need: encrypted with a customer key, and not expired."""
    out = []
    for s in snapshots:
        if not s.key_id:
            continue
        if s.expires_at:
            try:
                expires = datetime.fromisoformat(s.expires_at.replace("Z", "+00:00"))
            except ValueError:
                expires = None
            if expires is not None and expires <= now:
                continue
        out.append(s)
    return out


def needed_keys(snapshots: Iterable[Snapshot]) -> list[str]:
    return sorted({s.key_id for s in snapshots if s.key_id})


def restore_gaps(snapshots: Sequence[Snapshot], keys: Mapping[str, EvaluatedAccess], addresses: AddressSet) -> list[RestoreGap]:
    """One gap per key that some retained snapshot needs and the role cannot use for a restore.

    `keys` maps key ids (as `masterKeyUUID` gives them) to what the role may do with that key; a key
    id absent from it is one the stack does not know at all.
    """
    expected = Ranges.of(addresses.cidrs)
    by_key: dict[str, list[Snapshot]] = {}
    for s in snapshots:
        if s.key_id:
            by_key.setdefault(key_id_of(s.key_id), []).append(s)
    gaps = []
    for key_id, taken in sorted(by_key.items()):
        access = keys.get(key_id)
        ordered = tuple(sorted(taken, key=lambda s: (s.created_at, s.id)))
        if access is None or access.arn is None:
            gaps.append(RestoreGap(key_id, None, ordered, RESTORE_ACTIONS, tuple(addresses.cidrs)))
            continue
        denied = Ranges.none()
        lacking = []
        for action in RESTORE_ACTIONS:
            missing = expected - access.allowed.get(action, Ranges.none())
            if not missing.is_empty():
                lacking.append(action)
                denied |= missing
        if lacking:
            gaps.append(RestoreGap(key_id, access.arn, ordered, tuple(lacking), tuple(denied.cidrs())))
    return gaps
