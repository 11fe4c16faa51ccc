"""`make bench`: what the program costs per update, how many addresses a role carries, determinism,
and the drift command's concurrency. Writes BENCHMARKS.md. Never part of the tests.

    venv/bin/python -m bench.run [--quick] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from core.arns import LONGEST_KEY_ARN
from core.ips import ClusterAddresses, SourceSelection, build_address_set, canonical_cidrs
from core.policies import (
    INLINE_POLICIES_MAX_CHARS,
    KEY_POLICY_MAX_BYTES,
    MANAGED_POLICIES_PER_ROLE,
    MANAGED_POLICY_MAX_CHARS,
    PolicySizeError,
    canonical_json,
    chunk_cidrs,
    plan_policies,
    policy_size,
    role_kms_document,
)

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


# 1. Program cost ------------------------------------------------------------------------------

def measure(args: list[str]) -> tuple[float, float, dict[str, Any]]:
    """Wall seconds and peak RSS (MiB) of one fresh process, measured from outside."""
    start = time.perf_counter()
    proc = subprocess.Popen([PY, "-m", "bench.child", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read().decode() if proc.stdout else ""
    if status != 0:
        raise RuntimeError(f"bench.child {args} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_maxrss / 1024, json.loads(out.strip().splitlines()[-1])


def stats(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], statistics.median(values), q[2]


def program_cost(pairs: int, sizes: list[int]) -> list[dict[str, Any]]:
    """Program and floor over the same world, as A B A B ... pairs (the order alternating), per size.

    Each pair's ratio program/floor is taken from two runs made back to back, so that machine noise
    (the other core busy, caches) hits both alike; the report gives the median ratio and its spread.
    """
    samples: dict[int, dict[str, list[tuple[float, float, dict[str, Any]]]]] = {n: {"floor": [], "program": []} for n in sizes}
    for p in range(pairs):
        for n in sizes:
            for kind in ("floor", "program") if p % 2 == 0 else ("program", "floor"):
                samples[n][kind].append(measure([kind, str(n)]))
    rows = []
    for n in sizes:
        floor, prog = samples[n]["floor"], samples[n]["program"]
        ratios = [pw / fw for (pw, _, _), (fw, _, _) in zip(prog, floor, strict=True)]
        mem_ratios = [pm / fm for (_, pm, _), (_, fm, _) in zip(prog, floor, strict=True)]
        q1, median, q3 = quartiles(ratios)
        rows.append({
            "clusters": n, "resources": prog[0][2]["resources"], "cidrs": prog[0][2]["cidrs"],
            "floor_wall": statistics.median(w for w, _, _ in floor), "program_wall": statistics.median(w for w, _, _ in prog),
            "ratio": median, "q1": q1, "q3": q3, "min": min(ratios), "max": max(ratios),
            "mem_ratio": statistics.median(mem_ratios), "program_mem": statistics.median(m for _, m, _ in prog),
            "pairs": pairs,
        })
    return rows


def flat_sentence(rows: list[dict[str, Any]]) -> str:
    """Claim "flat" only where the spread allows it: the medians differ by less than the widest IQR."""
    medians = [r["ratio"] for r in rows]
    widest = max(r["q3"] - r["q1"] for r in rows)
    low, high = min(medians), max(medians)
    first, last = rows[0], rows[-1]
    if high - low <= widest:
        return (f"The median ratios lie between {low:.2f} and {high:.2f}, a spread of {high - low:.2f}, within the widest "
                f"interquartile range ({widest:.2f}): flat from {first['clusters']} to {last['clusters']} clusters, as far "
                "as these runs can tell.")
    return (f"The median ratios go from {first['ratio']:.2f} ({first['clusters']} clusters) to {last['ratio']:.2f} "
            f"({last['clusters']}), more than the widest interquartile range ({widest:.2f}): not flat.")


# 2. Address capacity --------------------------------------------------------------------------

def scattered(n: int, seed: int = 1) -> list[str]:
    """n public-looking IPv4 /32s, no two adjacent (so nothing collapses), in random order."""
    rnd = random.Random(seed)
    picked: set[int] = set()
    while len(picked) < n:
        value = rnd.randrange(int(ipaddress.IPv4Address("13.0.0.0")), int(ipaddress.IPv4Address("223.255.255.0"))) & ~1
        picked.add(value)
    return [f"{ipaddress.IPv4Address(v)}/32" for v in picked]


def fits(n: int, kind: str, parts: int | None = None) -> bool:
    try:
        chunks = chunk_cidrs(canonical_cidrs(scattered(n)), kind)  # type: ignore[arg-type]
    except PolicySizeError:
        return False
    return parts is None or len(chunks) <= parts


def largest(pred: Any, hi: int = 20000) -> int:
    lo = 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if pred(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def naive_fits(n: int, budget: int) -> bool:
    """One statement per address, unsorted, uncollapsed, pretty-printed as a hand-written policy would be."""
    doc = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt"], "Resource": LONGEST_KEY_ARN,
         "Condition": {"IpAddress": {"aws:SourceIp": ip}}} for ip in scattered(n)]}
    return policy_size(doc) <= budget


def ranges(n_blocks: int, seed: int = 2) -> list[str]:
    """Realistic ranges: runs of 2-16 consecutive /32s (node groups), which collapse."""
    rnd = random.Random(seed)
    out: list[str] = []
    for _ in range(n_blocks):
        start = rnd.randrange(int(ipaddress.IPv4Address("13.0.0.0")), int(ipaddress.IPv4Address("223.0.0.0"))) & ~15
        out += [f"{ipaddress.IPv4Address(start + i)}/32" for i in range(rnd.choice([2, 4, 8, 16]))]
    return out


# (label, role policy kind, whether the program writes the key policy), as config.settings decides.
KEY_MODES = (
    ("1. same account, key created", "managed", True),
    ("2. same account, existing key", "managed", False),
    ("3. key created in another account", "inline", True),
    ("4. existing key in another account", "inline", False),
    ("4. the same, with manageKeyPolicy", "inline", True),
)


def _plan_error(entries: list[str], kind: str, manage_key_policy: bool) -> str | None:
    try:
        plan_policies(canonical_cidrs(entries), kind=kind, enforce_ip=True, manage_key_policy=manage_key_policy)  # type: ignore[arg-type]
    except PolicySizeError as exc:
        return str(exc)
    return None


def binding_limit(message: str) -> str:
    if "key policy" in message:
        return f"key policy, {KEY_POLICY_MAX_BYTES:,} bytes"
    if "managed policies" in message:
        return f"{MANAGED_POLICIES_PER_ROLE} managed policies of {MANAGED_POLICY_MAX_CHARS:,} characters"
    return f"inline policies of a role, {INLINE_POLICIES_MAX_CHARS:,} characters"


def capacity() -> dict[str, Any]:
    modes = []
    for label, kind, writes_key_policy in KEY_MODES:
        n = largest(lambda n, k=kind, w=writes_key_policy: _plan_error(scattered(n), k, w) is None, 8000)
        message = _plan_error(scattered(n + 1), kind, writes_key_policy) or ""
        modes.append({"mode": label, "addresses": n, "binding": binding_limit(message)})
    one = largest(lambda n: fits(n, "managed", 1), 2000)
    sample = canonical_cidrs(scattered(1000))
    per_address = sum(len(c) + 3 for c in sample) / len(sample)  # quotes and comma
    overhead = policy_size(role_kms_document(LONGEST_KEY_ARN, ["0.0.0.0/32"], "AtlasEncryptionAtRestKmsPart10")) - len('"0.0.0.0/32"')
    naive_one = largest(lambda n: naive_fits(n, MANAGED_POLICY_MAX_CHARS), 200)
    blocks = largest(lambda b: _fits_list(ranges(b), "managed"), 8000)
    return {
        "modes": modes, "one_managed": one, "per_address": per_address, "overhead": overhead,
        "bound_one": int((MANAGED_POLICY_MAX_CHARS - overhead) / per_address),
        "naive_one": naive_one,
        "range_blocks": blocks, "range_addresses": len(ranges(blocks)), "range_cidrs": len(canonical_cidrs(ranges(blocks))),
    }


def _fits_list(entries: list[str], kind: str) -> bool:
    try:
        chunk_cidrs(canonical_cidrs(entries), kind)  # type: ignore[arg-type]
    except PolicySizeError:
        return False
    return True


# 3. Determinism -------------------------------------------------------------------------------

def determinism(shuffles: int, program_runs: int) -> dict[str, int]:
    data = json.loads((ROOT / "samples/atlas/control-plane-ip-addresses.json").read_text())["outbound"]
    clusters = [ClusterAddresses(f"c{i}", tuple(f"198.51.{i}.{j}" for j in (1, 2, 3, 9)), (f"198.51.{i}.200",)) for i in range(60)]
    rnd = random.Random(3)
    seen: set[str] = set()
    for _ in range(shuffles):
        cp = {cloud: {r: rnd.sample(ips, len(ips)) for r, ips in rnd.sample(list(regions.items()), len(regions))}
              for cloud, regions in data.items()}
        cl = [ClusterAddresses(c.name, tuple(rnd.sample(c.outbound, len(c.outbound))), c.future_outbound)
              for c in rnd.sample(clusters, len(clusters))]
        found = build_address_set(cp, cl, SourceSelection())
        plan = plan_policies(found.cidrs, kind="managed", enforce_ip=True, manage_key_policy=True)
        seen.add(canonical_json({"docs": plan.role_documents(LONGEST_KEY_ARN)}))
    from config.stackfile import read_stack_config
    from offline.harness import World, run_program

    program_docs: set[str] = set()
    for i in range(program_runs):
        world = World.sample()
        r = random.Random(i)
        r.shuffle(world.project["services"]["clusters"])
        for regions in world.control_plane["outbound"].values():
            for ips in regions.values():
                r.shuffle(ips)
        run = run_program(read_stack_config(ROOT / "samples/stacks/Pulumi.same-account.yaml"), stack="bench", world=world)
        program_docs.add(json.dumps(sorted(str(reg.inputs.get("policy")) for reg in run.registrations if "policy" in reg.inputs)))
    return {"shuffles": shuffles, "distinct": len(seen), "program_runs": program_runs, "program_distinct": len(program_docs)}


# 4. Drift command -----------------------------------------------------------------------------

def drift_timing(latency: float, stack_counts: list[int]) -> list[dict[str, Any]]:
    """The drift command against the tests' own stand-ins (moto IAM and KMS server, digest-auth Atlas)."""
    import tempfile

    import boto3

    from drift.cli import run
    from standins.atlas import atlas_uses, create_key, deploy_role, expected_documents, write_stack
    from standins.servers import drift_standins

    rows = []
    with drift_standins(latency=latency) as (state, _):
        iam = boto3.client("iam")
        key = create_key(boto3.client("kms", region_name="eu-west-2"))
        atlas_uses(state, key)
        docs = expected_documents(key_arn=key)
        for count in stack_counts:
            folder = Path(tempfile.mkdtemp())
            for i in range(count):
                stack = f"s{count}-{i}"
                deploy_role(iam, stack, docs)
                write_stack(folder, stack, key_arn=key)
            times = []
            for _ in range(3):
                start = time.perf_counter()
                code = run(["--all-stacks", "--dir", str(folder), "--no-cloudtrail"], out=lambda _: None)
                times.append(time.perf_counter() - start)
                if code != 0:
                    raise RuntimeError(f"drift reported exit {code} on an unchanged world")
            rows.append({"stacks": count, "wall": stats(times), "median": statistics.median(times)})
    return rows


def drift_scale(runs: int, roles: int = 2_000, keys: int = 400) -> dict[str, Any]:
    """One stack's check in an empty account and in one with `roles` unrelated roles and `keys` keys.

    Twice each: the role as Atlas reports it (one GetRole), and by the tag fallback (lists every role),
    which is what the command did for every stack before. CloudTrail off: its cost is per key, not per
    account.
    """
    import tempfile

    import boto3

    from drift.cli import run
    from standins.atlas import atlas_uses, create_key, deploy_role, expected_documents, write_stack
    from standins.servers import drift_standins

    with drift_standins() as (state, _):
        iam, kms = boto3.client("iam"), boto3.client("kms", region_name="eu-west-2")
        folder = Path(tempfile.mkdtemp())
        key = create_key(kms, stack="scale")  # a created key: found by its alias
        role = deploy_role(iam, "scale", expected_documents(key_arn=key))
        atlas_uses(state, key)
        stack = write_stack(folder, "scale", key_arn=None)

        def timed(reported: bool) -> float:
            state.encryption_role = role if reported else None
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                code = run(["--stack-file", str(stack), "--no-cloudtrail"], out=lambda _: None)
                times.append(time.perf_counter() - start)
                if code != 0:
                    raise RuntimeError(f"drift reported exit {code} on an unchanged world")
            return statistics.median(times)

        empty = {"reported": timed(True), "tags": timed(False)}
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                                    "Principal": {"Service": "ec2.amazonaws.com"}}]})
        for i in range(roles):
            iam.create_role(RoleName=f"unrelated-{i}", AssumeRolePolicyDocument=trust, Tags=[{"Key": "team", "Value": "x"}])
        for i in range(keys):
            kms.create_key(Description=f"unrelated {i}", Tags=[{"TagKey": "team", "TagValue": "x"}])
        loaded = {"reported": timed(True), "tags": timed(False)}
    return {"runs": runs, "roles": roles, "keys": keys, "empty": empty, "loaded": loaded}


# Report ---------------------------------------------------------------------------------------

# History, not measured by this run: what earlier profiling found and changed.
HISTORY = """## History: what was changed, and why (reasoning, not measured by this run)

- `core.ips.collapse` (`core.addresses.Ranges`) merges integer intervals and emits the minimal CIDR cover directly, instead of
  `ipaddress.collapse_addresses` (a third of the program's own time in an earlier profile); a hypothesis
  property checks it equals the standard library's result.
- `check_source` compares integer intervals, not `ipaddress` objects: it runs for every address.
- The `allowedCidrs` output is produced by one apply, and the offline harness reads stack outputs as they
  are: `Output.from_input` on a list makes one Output per element, thousands here.
- The drift command asks Atlas for the control-plane list once per run and keeps one HTTP session and digest
  nonce per thread. It finds the role by asking Atlas which one it uses (one `GetRole` to check its tags) and
  a created key by its alias (one `DescribeKey`), instead of listing every role and key with their tags.
"""

def machine() -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    mem = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("pulumi", "pulumi-aws", "pulumi-mongodbatlas", "moto", "boto3"))
    return [f"- CPU: {cpu}, {os.cpu_count()} cores; memory {mem:,} MiB",
            f"- {platform.platform()}; Python {platform.python_version()}", f"- {versions}"]


def main() -> None:
    from bench.churn import churn_table, wide_breakup

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, for a smoke run")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()
    pairs = 4 if args.quick else 15
    started = time.perf_counter()
    print("program cost ...", flush=True)
    cost = program_cost(pairs, [1, 10, 100, 500])
    print("capacity ...", flush=True)
    cap = capacity()
    print("determinism ...", flush=True)
    det = determinism(100, 3 if args.quick else 10)
    print("churn ...", flush=True)
    churn = churn_table()
    wide = wide_breakup()
    print("drift ...", flush=True)
    latency = 0.1
    drift_rows = drift_timing(latency, [1, 10] if args.quick else [1, 50])
    print("drift at scale ...", flush=True)
    scale = drift_scale(3 if args.quick else 7, *((200, 40) if args.quick else (2_000, 400)))
    elapsed = time.perf_counter() - started
    lines = [
        "# Benchmarks", "",
        f"Generated by `make bench` (`venv/bin/python -m bench.run{' --quick' if args.quick else ''}`) on "
        f"{time.strftime('%Y-%m-%d')}, in {elapsed:.0f} s. Every number below was printed by that run, except the "
        "lines labelled as a bound or as reasoning.", "",
        "## Machine", "", *machine(), "",
    ]
    lines += _cost_section(cost, pairs) + _capacity_section(cap) + _determinism_and_churn(det, churn, wide)
    lines += [*_drift_section(latency, drift_rows, scale), HISTORY]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")


def _cost_section(cost: list[dict[str, Any]], pairs: int) -> list[str]:
    at_500 = next(r for r in cost if r["clusters"] == 500)
    target = 1.10
    lines = [
        "## 1. Program cost per update", "",
        f"Whole-process wall time of `python -m bench.child` against a floor, in {pairs} pairs per size run back to back",
        "(A B, then B A, alternating), the ratio taken within each pair. The program is the real one under the mock",
        "runtime (the offline preview's path) on the same-account sample stack, with the bundled control-plane list",
        "and N clusters of 3 scattered addresses each. The floor is what any program doing this job must pay: the",
        "same SDK modules loaded, the same two Atlas lookups answered over the same world by the same mocks, and one",
        "resource registered.", "",
        "| clusters | resources | allowed CIDRs | floor s (median) | program s (median) | program / floor: median | interquartile | min–max | peak memory × floor |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in cost:
        lines.append(f"| {r['clusters']} | {r['resources']} | {r['cidrs']:,} | {r['floor_wall']:.2f} | {r['program_wall']:.2f} | "
                     f"**{r['ratio']:.2f}** | {r['q1']:.2f}–{r['q3']:.2f} | {r['min']:.2f}–{r['max']:.2f} | {r['mem_ratio']:.2f} |")
    lines += [
        "", flat_sentence(cost), "",
        f"Target: the program at 500 clusters within {target:.2f} × the floor. Measured: {at_500['ratio']:.2f} "
        f"(interquartile {at_500['q1']:.2f}–{at_500['q3']:.2f}): "
        + ("**met**." if at_500["ratio"] <= target else "**not met**."), "",
        "Where the cost goes (reasoning from profiles made while writing this, not measured by this run): most of",
        "the program's own share is paid whatever the address count: importing the program's own modules, and the",
        "SDK's work for each of the program's 13 to 25 resources (type hints on first use, stack traces,",
        "serialisation) against one resource for the floor. The address arithmetic (integer intervals, `core/addresses.py`,",
        "used by `core/ips.py` and `core/split.py`) grows with the addresses and is the part that grows from 1 to 500 clusters.", "",
    ]
    return lines


def _capacity_section(cap: dict[str, Any]) -> list[str]:
    return [
        "## 2. Address capacity per key mode", "",
        "The most scattered public IPv4 /32s (no two adjacent, so nothing collapses) that the program accepts, found by",
        "binary search with the program's own `plan_policies`, and the limit that refuses one more (from its error):", "",
        "| key mode | addresses | binding limit |", "|---|---:|---|",
        *[f"| {m['mode']} | {m['addresses']:,} | {m['binding']} |" for m in cap["modes"]],
        "",
        f"Within one managed policy the program opens a second part at {cap['one_managed']} addresses (the stable split",
        "keeps 20 % headroom per part, section 4). A naive policy, one statement per address as written by hand,",
        f"holds {cap['naive_one']} addresses in one managed policy (measured).", "",
        f"Bound (arithmetic, not measured): {cap['per_address']:.1f} characters per address (quotes and comma) and "
        f"{cap['overhead']} characters of document overhead (longest key ARN, widest Sid) give at most "
        f"({MANAGED_POLICY_MAX_CHARS:,} − {cap['overhead']}) / {cap['per_address']:.1f} = {cap['bound_one']} addresses per "
        f"managed policy, {cap['bound_one'] * MANAGED_POLICIES_PER_ROLE:,} for {MANAGED_POLICIES_PER_ROLE} of them.", "",
        f"Realistic ranges (runs of 2–16 consecutive addresses, which collapse): {cap['range_blocks']} ranges, "
        f"{cap['range_addresses']:,} addresses, collapse to {cap['range_cidrs']:,} CIDRs and fit one role's managed policies.", "",
    ]


def _determinism_and_churn(det: dict[str, Any], churn: Any, wide: dict[str, Any]) -> list[str]:
    from bench.churn import markdown

    return [
        "## 3. Determinism", "",
        f"{det['shuffles']} shuffled orderings of the same inputs (regions, clusters and addresses reordered) gave "
        f"**{det['distinct']}** distinct set of policy documents through the pure functions; {det['program_runs']} shuffled "
        f"runs of the whole program gave **{det['program_distinct']}**.", "",
        "## 4. Churn: parts rewritten and addresses transiently uncovered", "",
        "For worlds of N scattered addresses and typical changes, the split before (greedy packing in sorted order, a",
        "part count in every Sid) and now (core/split.py: /24 buckets assigned to parts by rendezvous hashing, 20 %",
        "headroom, parts written from the highest down, no part count in the Sid). \"Documents rewritten\" counts",
        "policies created, deleted or changed (each a new IAM policy version); \"uncovered\" counts addresses allowed",
        "before and after the update that no part allows at some moment of it: for the worst order of parallel writes",
        "(what the greedy split had: no order between parts) and for the order the component now enforces.", "",
        markdown(churn), "",
        f"A full /23 losing one address (the documented limit of bucketing), {wide['trials']} random /23s among "
        f"{wide['addresses']:,} addresses: addresses exposed in the component's order in {wide['exposed_trials']} of "
        f"{wide['trials']} draws, mean {wide['mean_exposed']:.0f}, max {wide['max_exposed']}.", "",
        "Above what hashing can balance with 10 parts (the 3,000-address rows), the split falls back to the greedy",
        "packing, which is then neither stable nor gap-free; the table shows it rather than hides it.", "",
    ]


def _drift_section(latency: float, drift_rows: list[dict[str, Any]], scale: dict[str, Any]) -> list[str]:
    return [
        "## 5. The drift command", "",
        f"`python -m drift --all-stacks` against the tests' stand-ins (moto IAM and KMS server; digest-auth Atlas stand-in "
        f"with {latency * 1000:.0f} ms added to every answer), 3 runs each, medians with min–max.", "",
        "| stacks | wall s | stacks × the 1-stack time (one after another) |", "|---|---|---|",
        *[f"| {r['stacks']} | {r['wall']} | {r['stacks'] * drift_rows[0]['median']:.2f} s |" for r in drift_rows], "",
        "Stacks are checked by a pool of 8 threads; Atlas's control-plane list is read once per run, and each",
        "thread keeps its HTTP session and digest nonce.", "",
        "### Drift at scale: one stack, an empty account and a crowded one", "",
        f"`python -m drift --stack-file` for one stack (created key, found by its alias), median of {scale['runs']} runs, in an",
        f"empty account and after adding {scale['roles']:,} unrelated roles and {scale['keys']:,} unrelated keys to moto (no",
        "added latency). \"Atlas reports the role\" is the normal path (`cloudProviderAccess`, one `GetRole`); \"tag",
        "fallback\" is the path when Atlas reports no role (it lists every role and reads each one's tags), which is",
        "what the command did for every stack before.", "",
        "| how the role is found | empty account, s | crowded account, s | crowded / empty |", "|---|---:|---:|---:|",
        *[f"| {label} | {scale['empty'][k]:.2f} | {scale['loaded'][k]:.2f} | **{scale['loaded'][k] / scale['empty'][k]:.2f}** |"
          for k, label in (("reported", "Atlas reports the role"), ("tags", "tag fallback"))], "",
        f"Target: within 1.5 × the empty-account time. Measured: {scale['loaded']['reported'] / scale['empty']['reported']:.2f} "
        + ("(**met**)." if scale["loaded"]["reported"] / scale["empty"]["reported"] <= 1.5 else "(**not met**)."), "",
    ]


if __name__ == "__main__":
    main()
