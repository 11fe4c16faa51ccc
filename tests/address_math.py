"""An independent oracle for address sets in tests: merged integer intervals, no CIDR logic."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


def covered(entries: Iterable[str | ipaddress.IPv4Network | ipaddress.IPv6Network]) -> list[tuple[int, int, int]]:
    """The set of addresses as sorted, merged (version, first, last) intervals, to compare exactly."""
    nets = [ipaddress.ip_network(e) if isinstance(e, str) else e for e in entries]
    intervals = sorted((n.version, int(n.network_address), int(n.broadcast_address)) for n in nets)
    merged: list[list[int]] = []
    for v, a, b in intervals:
        if merged and merged[-1][0] == v and a <= merged[-1][2] + 1:
            merged[-1][2] = max(merged[-1][2], b)
        else:
            merged.append([v, a, b])
    return [(v, a, b) for v, a, b in merged]
