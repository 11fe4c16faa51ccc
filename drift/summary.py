"""What the guard decided, as a short markdown summary for a person reading a job's page. Pure code.

`python -m drift guard PREVIEW_JSON --summary FILE [--report DRIFT_JSON]` appends it to FILE (a GitHub
Actions job passes `$GITHUB_STEP_SUMMARY`): whether the change goes ahead without a person, which addresses
Atlas's lists gain and lose (the union of every address list of the documents the component writes, before
and after), and, when the drift command's JSON report taken before the update is given, where Atlas uses
each address (the cluster, announced future addresses, the control plane's cloud and region).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.ips import AddressError, to_span
from drift.guard import DOCUMENTS, DigestStep, Verdict, address_lists, digest_steps, document_of


def _canonical(entry: Any) -> str:
    try:
        return to_span(entry, "address").cidr
    except AddressError:
        return str(entry)


def _addresses(step: DigestStep, inputs: Mapping[str, Any] | None) -> set[str]:
    doc = document_of(inputs, DOCUMENTS[step.type][0])
    return {_canonical(e) for entries in address_lists(doc) for e in entries} if doc is not None else set()


def address_changes(steps: list[DigestStep]) -> tuple[list[str], list[str]]:
    """(added, removed): the addresses the component's documents allow after the update and not before, and
    the other way round. An address moving from one part of the split to another is neither."""
    before: set[str] = set()
    after: set[str] = set()
    for s in steps:
        if s.type not in DOCUMENTS or s.component is None:
            continue
        if s.op in ("same", "update", "delete"):
            before |= _addresses(s, s.old)
        if s.op in ("same", "update", "create"):
            after |= _addresses(s, s.new if s.new is not None else s.old)
    return sorted(after - before, key=_order), sorted(before - after, key=_order)


def _order(cidr: str) -> tuple[int, int]:
    try:
        span = to_span(cidr, "address")
    except AddressError:
        return (9, 0)
    return (span.version, span.lo)


def origins(report: Any, stack: str) -> dict[str, str]:
    """CIDR -> where Atlas uses it, from the drift command's JSON report (one report or a list of them):
    its `missing` findings name the cluster or region; a `stale` one is an address Atlas no longer reports."""
    reports = [r for r in (report if isinstance(report, list) else [report]) if isinstance(r, Mapping)]
    mine = [r for r in reports if r.get("stack") == stack] or (reports if len(reports) == 1 else [])
    found: dict[str, set[str]] = {}
    for r in mine:
        for finding in r.get("findings") or []:
            if not isinstance(finding, Mapping) or finding.get("kind") not in ("missing", "stale"):
                continue
            for cidr in finding.get("cidrs") or []:
                where = found.setdefault(_canonical(cidr), set())
                if finding["kind"] == "stale":
                    where.add("no longer reported by Atlas")
                    continue
                prefix = "announced future address of " if finding.get("future") else ""
                where |= {f"{prefix}{o}" for o in finding.get("origins") or []}
    return {cidr: "; ".join(sorted(where)) for cidr, where in found.items()}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(verdict: Verdict, digest: Mapping[str, Any], report: Any = None) -> str:
    """The summary of one stack's verdict."""
    steps = digest_steps(digest)
    stack = next((s.urn.split("::", 1)[0].removeprefix("urn:pulumi:") for s in steps), "?")
    lines = [f"### atlas-kms heal: stack `{stack}`", ""]
    if verdict.refusals:
        lines += ["**A person is needed**: nothing is applied. The preview wants more than Atlas's address lists:", "",
                  "| resource | step | why |", "|---|---|---|"]
        lines += [f"| `{_cell(r.urn.rsplit('::', 1)[-1])}` | {r.op} | {_cell('; '.join(r.reasons))} |" for r in verdict.refusals]
        return "\n".join(lines) + "\n"
    if not verdict.targets:
        return "\n".join([*lines, "Nothing to change: the policies already allow exactly the addresses Atlas uses."]) + "\n"
    added, removed = address_changes(steps)
    where = origins(report, stack) if report is not None else {}
    lines += [f"Only Atlas's address lists change: `pulumi up` applies {len(verdict.targets)} change"
              f"{'s' if len(verdict.targets) != 1 else ''} without a person.", "",
              "| address | change | where Atlas uses it |", "|---|---|---|"]
    lines += [f"| {cidr} | added | {_cell(where.get(cidr, ''))} |" for cidr in added]
    lines += [f"| {cidr} | removed | {_cell(where.get(cidr, 'no longer reported by Atlas'))} |" for cidr in removed]
    by_urn = {s.urn: s for s in steps}
    lines += ["", "Resources: " + ", ".join(f"`{by_urn[u].name}` ({by_urn[u].op})" for u in verdict.targets)]
    return "\n".join(lines) + "\n"


def unjudged(message: str) -> str:
    return f"### atlas-kms heal\n\n**The preview could not be judged**: nothing is applied. {_cell(message)}\n"
