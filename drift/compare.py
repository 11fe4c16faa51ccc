"""Compare the role's live KMS policies with what the program would write. Pure code."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from core.ips import AddressSet, Network, collapse, to_network
from core.policies import ROLE_STATEMENT_SID, canonical_json

Status = Literal["ok", "drift", "error"]
EXIT_CODES: dict[Status, int] = {"ok": 0, "drift": 1, "error": 2}


class DriftError(Exception):
    """Drift could not be decided; the message is the one-line reason."""


@dataclass(frozen=True)
class LivePolicy:
    name: str
    kind: Literal["managed", "inline"]
    document: dict[str, Any]


@dataclass(frozen=True)
class MissingAddress:
    cidr: str
    sources: tuple[str, ...]
    future: bool


@dataclass
class Report:
    stack: str
    status: Status
    reason: str = ""
    role_arn: str = ""
    key_arn: str = ""
    expected_cidrs: list[str] = field(default_factory=list)
    live_cidrs: list[str] = field(default_factory=list)
    missing: list[MissingAddress] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    hand_edited: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "status": self.status,
            "exitCode": self.exit_code,
            "reason": self.reason,
            "roleArn": self.role_arn,
            "keyArn": self.key_arn,
            "expectedCidrs": self.expected_cidrs,
            "liveCidrs": self.live_cidrs,
            "missing": [{"cidr": m.cidr, "sources": list(m.sources), "future": m.future} for m in self.missing],
            "stale": self.stale,
            "handEdited": self.hand_edited,
        }

    def lines(self) -> list[str]:
        if self.status == "error":
            return [f"stack {self.stack}: ERROR, could not decide: {self.reason}"]
        if self.status == "ok":
            return [f"stack {self.stack}: OK, {len(self.expected_cidrs)} CIDRs allowed as expected ({self.role_arn})"]
        out = [f"stack {self.stack}: DRIFT, {self.reason} ({self.role_arn})"]
        for m in self.missing:
            kind = "announced future address of " if m.future else ""
            out.append(f"  missing  {m.cidr:<20} {kind}{'; '.join(m.sources)}: Atlas calls from it are DENIED")
        for cidr in self.stale:
            out.append(f"  stale    {cidr:<20} allowed but no longer reported by Atlas (over-permission)")
        for what in self.hand_edited:
            out.append(f"  edited   {what}")
        out.append("  fix: run `pulumi up` for this stack to regenerate the policy")
        return out


def _ours(stmt: dict[str, Any]) -> bool:
    return str(stmt.get("Sid", "")).startswith(ROLE_STATEMENT_SID)


def live_statements(policies: list[LivePolicy]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in policies:
        raw = policy.document.get("Statement", [])
        statements += [raw] if isinstance(raw, dict) else list(raw)
    return statements


def live_cidrs(policies: list[LivePolicy]) -> list[str]:
    """The collapsed source CIDRs the live statements of ours allow."""
    nets: list[Network] = []
    for stmt in live_statements(policies):
        if not _ours(stmt):
            continue
        values = (stmt.get("Condition") or {}).get("IpAddress", {}).get("aws:SourceIp", [])
        for value in [values] if isinstance(values, str) else values:
            try:
                nets.append(to_network(value, f"live policy statement {stmt.get('Sid')}"))
            except ValueError as exc:
                raise DriftError(str(exc)) from None
    return collapse(nets)


def live_key_arn(policies: list[LivePolicy]) -> str | None:
    for stmt in live_statements(policies):
        if _ours(stmt) and isinstance(stmt.get("Resource"), str):
            return str(stmt["Resource"])
    return None


def _difference(cidrs: list[str], minus: list[str]) -> list[str]:
    """Exactly the addresses of `cidrs` outside `minus`, as collapsed CIDRs (interval arithmetic)."""
    out: list[Network] = []
    for version in (4, 6):
        cut = sorted(
            (int(n.network_address), int(n.broadcast_address))
            for n in map(ipaddress.ip_network, minus) if n.version == version
        )
        for net in (n for n in map(ipaddress.ip_network, cidrs) if n.version == version):
            lo, hi = int(net.network_address), int(net.broadcast_address)
            for c_lo, c_hi in cut:
                if c_hi < lo or c_lo > hi:
                    continue
                if c_lo > lo:
                    out += _range(version, lo, c_lo - 1)
                lo = max(lo, c_hi + 1)
                if lo > hi:
                    break
            if lo <= hi:
                out += _range(version, lo, hi)
    return collapse(out)


def _range(version: int, lo: int, hi: int) -> list[Network]:
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    return list(ipaddress.summarize_address_range(make(lo), make(hi)))  # type: ignore[arg-type]


def _without_addresses(doc: dict[str, Any]) -> str:
    """A document with its IP lists blanked: what is left must match exactly."""
    doc = json.loads(json.dumps(doc))
    raw = doc.get("Statement", [])
    for stmt in [raw] if isinstance(raw, dict) else raw:
        ip = (stmt.get("Condition") or {}).get("IpAddress")
        if isinstance(ip, dict) and "aws:SourceIp" in ip:
            ip["aws:SourceIp"] = []
        stmt.pop("Sid", None)  # part numbering follows the list length
    return canonical_json(doc)


def compare(stack: str, role_arn: str, key_arn: str, addresses: AddressSet, expected_documents: list[str],
            live: list[LivePolicy]) -> Report:
    expected = list(addresses.cidrs)
    have = live_cidrs(live)
    report = Report(stack=stack, status="ok", role_arn=role_arn, key_arn=key_arn, expected_cidrs=expected,
                    live_cidrs=have)
    for cidr in _difference(expected, have):
        origins = addresses.origins_of(cidr)
        report.missing.append(MissingAddress(
            cidr=cidr,
            sources=tuple(sorted({o.describe().replace(" (announced future address)", "") for o in origins})),
            future=bool(origins) and all(o.kind == "cluster-future" for o in origins),
        ))
    report.stale = _difference(have, expected)

    expected_shapes = sorted(_without_addresses(json.loads(d)) for d in expected_documents)
    live_shapes = sorted(_without_addresses(p.document) for p in live)
    if not live:
        report.hand_edited.append("the role has no KMS policy at all")
    elif expected_shapes != live_shapes:
        if len(expected_shapes) != len(live_shapes) and set(live_shapes) <= set(expected_shapes):
            pass  # only the number of parts differs, which follows the address count
        else:
            names = ", ".join(f"{p.kind} policy {p.name}" for p in live if _without_addresses(p.document) not in expected_shapes)
            report.hand_edited.append(
                f"{names or 'a policy'} differs from what the program writes (actions, resource, effect or extra statements)"
            )
    if report.missing or report.stale or report.hand_edited:
        report.status = "drift"
        parts = [f"{len(report.missing)} missing", f"{len(report.stale)} stale"]
        if report.hand_edited:
            parts.append("policy edited by hand")
        report.reason = ", ".join(parts)
    return report
