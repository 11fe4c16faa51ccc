"""The set of source addresses Atlas calls AWS KMS from.

Pure, typed code: no Pulumi import. The component, the offline preview, the drift
command and the benchmarks all compute the allowed CIDRs with `build_address_set`,
so that what `pulumi up` writes and what `drift` expects can never disagree.

Why these addresses: Atlas calls KMS from its control plane and from the cluster
nodes' public IPs; MongoDB asks to allow *all* control-plane outbound addresses of
every cloud, not only the KMS's own cloud, plus each node's current and announced
future outbound addresses.
https://www.mongodb.com/docs/atlas/security-aws-kms/#prerequisites
https://www.mongodb.com/docs/atlas/setup-cluster-security/#std-label-atlas-add-inbound-ips
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

# The address arithmetic (integer intervals, the fast IPv4 parser) lives in core.addresses; Network and
# Span stay importable from here.
from core.addresses import Network as Network
from core.addresses import Ranges, parse_ipv4
from core.addresses import Span as Span

CLOUDS: tuple[str, ...] = ("aws", "azure", "gcp")

SourceKind = Literal["control-plane", "cluster", "cluster-future", "extra"]


class AddressError(ValueError):
    """An address, a lookup answer or a selection that cannot give a safe allow-list."""


@dataclass(frozen=True)
class ClusterAddresses:
    """One cluster's public addresses as Atlas reports them (plain IPs, not CIDRs)."""

    name: str
    outbound: tuple[str, ...] = ()
    future_outbound: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceSelection:
    """Which Atlas addresses to allow: the `sourceIps` stack setting, validated."""

    control_plane: tuple[str, ...] | Literal["all"] = "all"
    clusters: tuple[str, ...] | Literal["all"] = "all"
    include_future: bool = True
    extra_cidrs: tuple[str, ...] = ()
    # `sourceIps.allowWideCidrs`: lets extraCidrs hold ranges wider than WIDEST_PREFIX (warned on every run).
    allow_wide: bool = False


@dataclass(frozen=True)
class Origin:
    """Where an allowed address comes from, so that a report can name it."""

    kind: SourceKind
    name: str  # "aws/us-east-1", a cluster name, or "extraCidrs"

    def describe(self) -> str:
        return {
            "control-plane": f"control plane {self.name}",
            "cluster": f"cluster {self.name}",
            "cluster-future": f"cluster {self.name} (announced future address)",
            "extra": "sourceIps.extraCidrs",
        }[self.kind]


@dataclass(frozen=True)
class AddressSet:
    """The collapsed, sorted CIDRs plus where each raw entry came from."""

    cidrs: tuple[str, ...]
    origins: Mapping[str, tuple[Origin, ...]] = field(default_factory=dict)
    missing_clusters: tuple[str, ...] = ()

    def origins_of(self, cidr: str) -> tuple[Origin, ...]:
        """Every source whose entry lies inside `cidr` (or equals it)."""
        net = to_network(cidr, "cidr")
        found: list[Origin] = []
        for raw, origins in self.origins.items():
            entry = to_network(raw, "origin")
            if entry.version == net.version and (
                entry.subnet_of(net) or net.subnet_of(entry)  # type: ignore[arg-type]
            ):
                found.extend(origins)
        return tuple(sorted(set(found), key=lambda o: (o.kind, o.name)))


# Ranges from which no call of Atlas's can ever reach KMS: Atlas calls from its control plane's and its
# nodes' public addresses. An entry inside one of these hides a mistake (a VPC CIDR pasted instead of a
# public one) and, when wide, quietly loosens the condition. IANA special-purpose registries:
# https://www.iana.org/assignments/iana-ipv4-special-registry/ and .../iana-ipv6-special-registry/
# The documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) stay allowed: the bundled
# sample answers are written in them, labelled as such.
NON_PUBLIC: tuple[tuple[Network, str], ...] = tuple(
    (ipaddress.ip_network(net), name)
    for net, name in (
        ("0.0.0.0/8", "'this network'"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fc00::/7", "unique local (private)"),
        ("fe80::/10", "link-local"),
        ("ff00::/8", "multicast"),
    )
)
# The widest range accepted without `allowWideCidrs`. Atlas publishes single addresses and small blocks;
# a /16 is 65,536 addresses. Anything wider (0.0.0.0/0, 0.0.0.0/1, ::/0) all but removes the condition.
WIDEST_PREFIX = {4: 16, 6: 48}


# The same ranges as integer intervals: checked for every address of every update, so kept cheap.
_NON_PUBLIC_SPANS = tuple(
    (special.version, int(special.network_address), int(special.broadcast_address), special, name)
    for special, name in NON_PUBLIC
)


def check_source(net: Network, where: str, *, allow_wide: bool = False, wide_fix: str = "") -> None:
    """Refuse a range Atlas cannot call from, or one so wide that it voids the IP condition."""
    check_span(Span(net.version, int(net.network_address), int(net.broadcast_address), net.prefixlen), where,
               allow_wide=allow_wide, wide_fix=wide_fix)


def check_span(span: Span, where: str, *, allow_wide: bool = False, wide_fix: str = "") -> None:
    for special_version, first, last, special, name in _NON_PUBLIC_SPANS:
        # A range that merely contains a special one is at least as wide, and the width check decides.
        if span.version == special_version and first <= span.lo and span.hi <= last:
            raise AddressError(
                f"{where}: {span.cidr} is in the {name} range {special}; Atlas never calls KMS from it. "
                f"Give Atlas's public addresses only (remove the entry)"
            )
    if span.prefix < WIDEST_PREFIX[span.version] and not allow_wide:
        raise AddressError(
            f"{where}: {span.cidr} is wider than /{WIDEST_PREFIX[span.version]} ({span.hi - span.lo + 1:,} addresses) "
            f"and would all but remove the source-IP condition; give Atlas's own addresses"
            f"{', ' + wide_fix if wide_fix else ''}"
        )


def is_wide(entry: str) -> bool:
    net = ipaddress.ip_network(entry, strict=False)
    return net.prefixlen < WIDEST_PREFIX[net.version]


def to_span(entry: str, where: str) -> Span:
    """`to_network`, as integers. Plain IPv4 text takes core.addresses' fast path; anything else, and
    every error, goes through `to_network`, so that both accept and refuse exactly the same."""
    fast = parse_ipv4(entry.strip()) if isinstance(entry, str) else None
    return fast or Span.of_network(to_network(entry, where))


def to_network(entry: str, where: str) -> Network:
    """Normalise one address or CIDR; a bare address becomes a /32 (or /128).

    Host bits must be zero (`10.0.0.1/24` is refused): a CIDR with host bits set
    usually means a typo, and guessing the intended network could open or close
    the wrong range.
    """
    if not isinstance(entry, str):
        raise AddressError(f"{where}: expected an IP address or CIDR string, got {entry!r}")
    text = entry.strip()
    if not text:
        raise AddressError(f"{where}: empty address; remove the entry or give an IP/CIDR")
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        if "host bits set" in str(exc):
            net = ipaddress.ip_network(text, strict=False)
            raise AddressError(
                f"{where}: {entry!r} has host bits set; did you mean {net}?"
            ) from None
        raise AddressError(
            f"{where}: {entry!r} is not an IP address or CIDR (examples: 3.92.113.229, 3.92.113.0/24)"
        ) from None


def collapse(networks: Iterable[Network]) -> list[str]:
    """Merge contained and adjacent networks; IPv4 first, then IPv6, ascending.

    The output is the minimal CIDR cover of the *set* of addresses, so any input order or
    duplication yields the same list and the same policy JSON (core.addresses.Ranges.cidrs).
    """
    return Ranges.from_networks(networks).cidrs()


def canonical_cidrs(entries: Iterable[str], where: str = "address") -> list[str]:
    """Validate, normalise and collapse a list of address strings."""
    return Ranges.from_spans(to_span(e, f"{where}[{i}]") for i, e in enumerate(entries)).cidrs()


def _control_plane_entries(
    outbound: Mapping[str, Mapping[str, Sequence[str]] | None],
    selection: SourceSelection,
) -> list[tuple[str, Origin]]:
    clouds = CLOUDS if selection.control_plane == "all" else selection.control_plane
    # "all" means every cloud Atlas calls from: one this code does not know must not be dropped silently.
    # https://www.mongodb.com/docs/atlas/security-aws-kms/#prerequisites (allow all control-plane outbound IPs)
    unknown = [c for c in outbound if c not in CLOUDS and any((outbound[c] or {}).values())]
    if selection.control_plane == "all" and unknown:
        raise AddressError(
            f"Atlas reported control-plane outbound addresses for cloud {sorted(unknown)[0]!r}, which this "
            f"program does not know ({', '.join(CLOUDS)}); refusing to leave them out of the allow-list, "
            f"which would deny Atlas's calls from them. Update atlas-kms."
        )
    entries: list[tuple[str, Origin]] = []
    for cloud in clouds:
        regions = outbound.get(cloud) or {}
        if selection.control_plane != "all" and not any(regions.values()):
            raise AddressError(
                f"Atlas reported no control-plane outbound addresses for cloud {cloud!r}, "
                f"which sourceIps.controlPlane selects; refusing to write a policy that could "
                f"lock Atlas out. Check the Atlas API, or select other clouds."
            )
        for region in sorted(regions):
            for ip in regions[region] or ():
                entries.append((ip, Origin("control-plane", f"{cloud}/{region}")))
    if not entries:
        raise AddressError(
            "Atlas reported no control-plane outbound addresses at all; a KMS policy without "
            "them would lock Atlas out of its key and shut the clusters down. Nothing was changed: "
            "check the mongodbatlas provider's credentials and the Atlas API, then run again."
        )
    return entries


def _cluster_entries(
    clusters: Sequence[ClusterAddresses], selection: SourceSelection
) -> tuple[list[tuple[str, Origin]], tuple[str, ...]]:
    # Several entries may carry one name: each one's addresses are Atlas's, so all are kept (an
    # allow-list takes the union; keeping only the last would deny the others' calls).
    by_name: dict[str, list[ClusterAddresses]] = {}
    for c in clusters:
        by_name.setdefault(c.name, []).append(c)
    if selection.clusters == "all":
        chosen = [c for n in sorted(by_name) for c in by_name[n]]
        missing: tuple[str, ...] = ()
    else:
        chosen = [c for n in selection.clusters for c in by_name.get(n, [])]
        missing = tuple(n for n in selection.clusters if n not in by_name)
    entries: list[tuple[str, Origin]] = []
    for cluster in chosen:
        entries += [(ip, Origin("cluster", cluster.name)) for ip in cluster.outbound]
        if selection.include_future:
            entries += [
                (ip, Origin("cluster-future", cluster.name)) for ip in cluster.future_outbound
            ]
    return entries, missing


def build_address_set(
    control_plane_outbound: Mapping[str, Mapping[str, Sequence[str]] | None],
    clusters: Sequence[ClusterAddresses],
    selection: SourceSelection,
) -> AddressSet:
    """Every address Atlas may call KMS from, collapsed and sorted.

    `control_plane_outbound` is the `outbound` object of Atlas's control-plane answer
    (cloud -> region -> CIDRs). `clusters` is the project's cluster list. Raises
    AddressError when a lookup answer is malformed or the control plane is empty.
    """
    entries = _control_plane_entries(control_plane_outbound, selection)
    cluster_entries, missing = _cluster_entries(clusters, selection)
    entries += cluster_entries
    entries += [(cidr, Origin("extra", "extraCidrs")) for cidr in selection.extra_cidrs]

    origins: dict[str, list[Origin]] = {}
    spans: list[Span] = []
    for raw, origin in entries:
        span = to_span(raw, origin.describe())
        if origin.kind == "extra":
            check_span(span, f"sourceIps.extraCidrs {raw!r}", allow_wide=selection.allow_wide)
        else:
            # Atlas's own answer holding a private or huge range is not trusted into a policy.
            try:
                check_span(span, f"Atlas's answer for {origin.describe()}")
            except AddressError as exc:
                raise AddressError(f"{exc}. Nothing was changed; report the answer to MongoDB support") from None
        spans.append(span)
        origins.setdefault(span.cidr, []).append(origin)
    cidrs = Ranges.from_spans(spans).cidrs()
    if not selection.allow_wide:
        # Adjacent entries can merge into a range wider than any one of them (two /16s into a /15):
        # what lands in the policy is what counts.
        for cidr in cidrs:
            if is_wide(cidr):
                raise AddressError(
                    f"sourceIps: the allowed addresses merge into {cidr}, wider than /{WIDEST_PREFIX[4]} (IPv6 "
                    f"/{WIDEST_PREFIX[6]}); narrow atlas-kms:sourceIps.extraCidrs, or set "
                    f"atlas-kms:sourceIps.allowWideCidrs: true if you really mean it"
                )
    return AddressSet(
        cidrs=tuple(cidrs),
        origins={k: tuple(v) for k, v in sorted(origins.items())},
        missing_clusters=missing,
    )
