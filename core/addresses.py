"""Sets of IPv4 and IPv6 addresses as integer intervals: the one implementation of the address arithmetic.

Pure, typed code: no Pulumi import. The program (core.ips: the allowed set, collapsed to the fewest
CIDRs), the stable split (core.split) and the drift evaluator (drift.evaluate: what live policies
allow) all compute with `Ranges`, so that what `pulumi up` writes and what `drift` expects are the
same normal form by construction, not by two implementations agreeing.

Why integers and not `ipaddress`: the program collapses thousands of addresses per update, and
`ipaddress` objects (parsing, `collapse_addresses`) were most of its own cost (BENCHMARKS.md, History).
The tests check every operation against `ipaddress` (tests/test_addresses.py).
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "AddressSyntaxError",
    "Interval",
    "Network",
    "Ranges",
    "Span",
    "cidr_text",
    "parse_ipv4",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Interval = tuple[int, int]  # first and last address, inclusive

BITS = {4: 32, 6: 128}
LAST = {4: 2**32 - 1, 6: 2**128 - 1}


class AddressSyntaxError(ValueError):
    """An entry `Ranges.of` cannot read as an address or CIDR."""


def cidr_text(version: int, lo: int, prefix: int) -> str:
    """The CIDR's text, as `str(ipaddress.ip_network(...))` writes it."""
    if version == 4:
        return f"{lo >> 24}.{lo >> 16 & 255}.{lo >> 8 & 255}.{lo & 255}/{prefix}"
    return f"{ipaddress.IPv6Address(lo)}/{prefix}"


@dataclass(frozen=True)
class Span:
    """One CIDR as integers: its family, first and last address, and prefix length."""

    version: int
    lo: int
    hi: int
    prefix: int

    @classmethod
    def of_network(cls, net: Network) -> Span:
        return cls(net.version, int(net.network_address), int(net.broadcast_address), net.prefixlen)

    @property
    def cidr(self) -> str:
        return cidr_text(self.version, self.lo, self.prefix)


# ASCII digits only: `\d` would also take other scripts' digits, which ipaddress refuses. No leading
# zeros, as ipaddress (3.9.5+) refuses them: whatever this accepts, ipaddress accepts with the same value.
_V4 = re.compile(r"(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})(?:/(0|[1-9][0-9]?))?")


def parse_ipv4(text: str) -> Span | None:
    """The fast path: `a.b.c.d` or `a.b.c.d/p` with host bits zero as a Span; None for anything else.

    None is not a refusal: the caller then reads the text with `ipaddress`, which decides and words
    the error (core.ips.to_span, `Ranges.of`), so the fast path never accepts or refuses differently.
    """
    m = _V4.fullmatch(text)
    if m is None:
        return None
    a, b, c, d = (int(x) for x in m.group(1, 2, 3, 4))
    prefix = int(m.group(5)) if m.group(5) is not None else 32
    if a < 256 and b < 256 and c < 256 and d < 256 and prefix <= 32:
        lo = a << 24 | b << 16 | c << 8 | d
        size = 1 << (32 - prefix)
        if lo % size == 0:
            return Span(4, lo, lo + size - 1, prefix)
    return None


def _iam_network(entry: str) -> Network:
    # IAM takes CIDR notation (RFC 4632) only: no netmask form, no IPv6 zone, which ipaddress would
    # otherwise accept. Host bits may be set: IAM reads `10.0.0.1/24` as 10.0.0.0/24.
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IPAddress
    _, slash, prefix = entry.partition("/")
    try:
        if "%" in entry or (slash and not (prefix.isascii() and prefix.isdigit())):
            raise ValueError(entry)
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        raise AddressSyntaxError(f"{entry!r} is not an IP address or CIDR") from None


def _merge(intervals: list[Interval]) -> tuple[Interval, ...]:
    """Sorted, with overlapping and adjacent intervals merged: one representation per set."""
    intervals.sort()
    out: list[Interval] = []
    if not intervals:
        return ()
    cur_lo, cur_hi = intervals[0]
    for lo, hi in intervals:
        if lo <= cur_hi + 1:
            if hi > cur_hi:
                cur_hi = hi
        else:
            out.append((cur_lo, cur_hi))
            cur_lo, cur_hi = lo, hi
    out.append((cur_lo, cur_hi))
    return tuple(out)


def _intersect(a: tuple[Interval, ...], b: tuple[Interval, ...]) -> tuple[Interval, ...]:
    # Of two canonical sets the pieces come out sorted and never adjacent: canonical already.
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def _complement(intervals: tuple[Interval, ...], last: int) -> tuple[Interval, ...]:
    out: list[Interval] = []
    start = 0
    for lo, hi in intervals:
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= last:
        out.append((start, last))
    return tuple(out)


def _cover(version: int, lo: int, hi: int, out: list[str]) -> None:
    """Append the fewest CIDRs that cover exactly [lo, hi], ascending, to `out`.

    Greedy from the left: the largest block that starts aligned at `lo` and does not pass `hi`.
    Appends text rather than returning blocks: building the program's policy is mostly this loop.
    """
    bits = BITS[version]
    while lo <= hi:
        size = min((lo & -lo).bit_length() - 1 if lo else bits, (hi - lo + 1).bit_length() - 1)
        out.append(cidr_text(version, lo, bits - size))
        lo += 1 << size


@dataclass(frozen=True)
class Ranges:
    """A set of IPv4 and IPv6 addresses: sorted, merged, inclusive integer intervals per family.

    Immutable and hashable; the representation is canonical, so `==` is set equality. The two
    families are separate address spaces: an IPv4 CIDR never covers an IPv6 address nor the reverse
    (an IPv4-mapped form such as ::ffff:192.0.2.1 is read as IPv6), and `~` complements each.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IPAddress
    """

    v4: tuple[Interval, ...] = ()
    v6: tuple[Interval, ...] = ()

    def __post_init__(self) -> None:
        for version, intervals in ((4, self.v4), (6, self.v6)):
            if any(not (0 <= lo <= hi <= LAST[version]) for lo, hi in intervals):
                raise ValueError(f"IPv{version} interval out of range in {intervals!r}")
        object.__setattr__(self, "v4", _merge(list(self.v4)))
        object.__setattr__(self, "v6", _merge(list(self.v6)))

    @classmethod
    def _canonical(cls, v4: tuple[Interval, ...], v6: tuple[Interval, ...]) -> Ranges:
        # For intervals already valid, sorted and merged: skips `__post_init__`'s check and sort,
        # which would be most of the cost of building the program's set.
        out = object.__new__(cls)
        object.__setattr__(out, "v4", v4)
        object.__setattr__(out, "v6", v6)
        return out

    # Building -----------------------------------------------------------------------------------

    @classmethod
    def none(cls) -> Ranges:
        return cls._canonical((), ())

    @classmethod
    def all(cls) -> Ranges:
        return cls._canonical(((0, LAST[4]),), ((0, LAST[6]),))

    @classmethod
    def from_spans(cls, spans: Iterable[Span]) -> Ranges:
        """The union of CIDRs already parsed (a Span from a parser is valid, so it is not checked again)."""
        per: dict[int, list[Interval]] = {4: [], 6: []}
        for span in spans:
            per[span.version].append((span.lo, span.hi))
        return cls._canonical(_merge(per[4]), _merge(per[6]))

    @classmethod
    def from_networks(cls, networks: Iterable[Network]) -> Ranges:
        """The union of `ipaddress` networks (read straight to intervals: no Span per network)."""
        per: dict[int, list[Interval]] = {4: [], 6: []}
        for net in networks:
            per[net.version].append((int(net.network_address), int(net.broadcast_address)))
        return cls._canonical(_merge(per[4]), _merge(per[6]))

    @classmethod
    def of(cls, cidrs: Iterable[str]) -> Ranges:
        """Bare addresses or CIDRs, IPv4 and IPv6, read as IAM reads an aws:SourceIp value.

        A single string is one entry. Host bits may be set (`10.0.0.1/24` is 10.0.0.0/24): a live
        policy may carry them, though the program refuses them in its own settings (core.ips.to_span,
        the strict reading). Raises AddressSyntaxError for anything else.
        """
        entries: Iterable[object] = [cidrs] if isinstance(cidrs, str) else cidrs
        spans: list[Span] = []
        for entry in entries:
            if not isinstance(entry, str):
                raise AddressSyntaxError(f"{entry!r} is not an IP address or CIDR string")
            spans.append(parse_ipv4(entry) or Span.of_network(_iam_network(entry)))
        return cls.from_spans(spans)

    # Set algebra --------------------------------------------------------------------------------

    def __or__(self, other: Ranges) -> Ranges:
        return self._canonical(_merge([*self.v4, *other.v4]), _merge([*self.v6, *other.v6]))

    def __and__(self, other: Ranges) -> Ranges:
        return self._canonical(_intersect(self.v4, other.v4), _intersect(self.v6, other.v6))

    def __invert__(self) -> Ranges:
        return self._canonical(_complement(self.v4, LAST[4]), _complement(self.v6, LAST[6]))

    def __sub__(self, other: Ranges) -> Ranges:
        return self & ~other

    def __bool__(self) -> bool:
        return not self.is_empty()

    def is_empty(self) -> bool:
        return not self.v4 and not self.v6

    def contains(self, ip: str) -> bool:
        """Whether one address (IPv4 or IPv6) is in the set; raises ValueError if `ip` is not one."""
        addr = ipaddress.ip_address(ip)
        intervals = self.v4 if addr.version == 4 else self.v6
        value = int(addr)
        i = bisect.bisect_right(intervals, (value, LAST[6] + 1)) - 1
        return i >= 0 and intervals[i][0] <= value <= intervals[i][1]

    # Minimal CIDR cover -------------------------------------------------------------------------

    def cidrs(self) -> list[str]:
        """The fewest CIDRs that cover exactly this set: IPv4 first, then IPv6, ascending.

        The same list as `ipaddress.collapse_addresses` per family, so any input order or
        duplication gives the same list, and the same policy JSON.
        """
        out: list[str] = []
        for lo, hi in self.v4:
            _cover(4, lo, hi, out)
        for lo, hi in self.v6:
            _cover(6, lo, hi, out)
        return out

    def __repr__(self) -> str:
        return f"Ranges.of({self.cidrs()!r})"
