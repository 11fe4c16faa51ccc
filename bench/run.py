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


def program_cost(reps: int, sizes: list[int]) -> list[dict[str, Any]]:
    rows = []
    cases: list[tuple[str, list[str]]] = [("floor", ["floor"])] + [(f"{n} clusters", ["program", str(n)]) for n in sizes]
    samples: dict[str, list[tuple[float, float, dict[str, Any]]]] = {name: [] for name, _ in cases}
    for _ in range(reps):  # interleaved, so that machine noise hits every case alike
        for name, args in cases:
            samples[name].append(measure(args))
    floor_wall = statistics.median(w for w, _, _ in samples["floor"])
    floor_mem = statistics.median(m for _, m, _ in samples["floor"])
    for name, _ in cases:
        walls = [w for w, _, _ in samples[name]]
        mems = [m for _, m, _ in samples[name]]
        info = samples[name][0][2]
        rows.append({
            "case": name, "wall": stats(walls), "mem": stats(mems),
            "wall_ratio": statistics.median(walls) / floor_wall, "mem_ratio": statistics.median(mems) / floor_mem,
            "resources": info["resources"], "cidrs": info["cidrs"],
            "inner": statistics.median(s[2]["inner_seconds"] for s in samples[name]),
        })
    return rows


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


def capacity() -> dict[str, Any]:
    one = largest(lambda n: fits(n, "managed", 1), 2000)
    inline = largest(lambda n: fits(n, "inline"), 3000)
    role = largest(lambda n: fits(n, "managed"), 8000)
    sample = canonical_cidrs(scattered(1000))
    per_address = sum(len(c) + 3 for c in sample) / len(sample)  # quotes and comma
    overhead = policy_size(role_kms_document(LONGEST_KEY_ARN, ["0.0.0.0/32"])) - len('"0.0.0.0/32"')
    naive_one = largest(lambda n: naive_fits(n, MANAGED_POLICY_MAX_CHARS), 200)
    naive_inline = largest(lambda n: naive_fits(n, INLINE_POLICIES_MAX_CHARS), 300)
    blocks = largest(lambda b: _fits_list(ranges(b), "managed"), 8000)
    return {
        "one_managed": one, "inline": inline, "role": role,
        "bound_one": int((MANAGED_POLICY_MAX_CHARS - overhead) / per_address),
        "bound_inline": int((INLINE_POLICIES_MAX_CHARS - overhead) / per_address),
        "bound_role": int(MANAGED_POLICIES_PER_ROLE * (MANAGED_POLICY_MAX_CHARS - overhead) / per_address),
        "per_address": per_address, "overhead": overhead,
        "naive_one": naive_one, "naive_inline": naive_inline,
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
    """The drift command against the tests' own stand-ins (moto IAM server, digest-auth Atlas)."""
    import tempfile
    import threading
    from http.server import ThreadingHTTPServer

    import boto3
    from moto.server import ThreadedMotoServer

    from drift.cli import run
    from tests.drift.conftest import (
        PRIVATE,
        PUBLIC,
        AtlasStandIn,
        AtlasState,
        deploy_role,
        expected_documents,
        write_stack,
    )

    state = AtlasState(latency=latency)
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (AtlasStandIn,), {"state": state, "nonces": set()}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    os.environ.update(
        MONGODB_ATLAS_BASE_URL=f"http://127.0.0.1:{server.server_address[1]}", MONGODB_ATLAS_PUBLIC_KEY=PUBLIC,
        MONGODB_ATLAS_PRIVATE_KEY=PRIVATE, AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="eu-west-2",
    )
    iam = boto3.client("iam")
    docs = expected_documents()
    rows = []
    try:
        for count in stack_counts:
            folder = Path(tempfile.mkdtemp())
            for i in range(count):
                stack = f"s{count}-{i}"
                deploy_role(iam, stack, docs)
                write_stack(folder, stack)
            times = []
            for _ in range(3):
                start = time.perf_counter()
                code = run(["--all-stacks", "--dir", str(folder)], out=lambda _: None)
                times.append(time.perf_counter() - start)
                assert code == 0
            rows.append({"stacks": count, "wall": stats(times), "median": statistics.median(times)})
    finally:
        moto.stop()
        server.shutdown()
    return rows


# Report ---------------------------------------------------------------------------------------

# What the first measurements showed and what was changed; the before numbers were measured on this
# machine by this script (--quick) just before each change, the after numbers are the tables above.
FINDINGS = """## What made it grow, and what was changed

Profiling the 500-cluster run (cProfile, warm process) showed the program's own cost in three places:

1. `ipaddress.collapse_addresses` and network objects: about a third of the program's own time.
   `core.ips.collapse` now merges integer intervals and emits the minimal CIDR cover directly; a
   hypothesis property checks it equals the standard library's result on random IPv4/IPv6 sets.
2. `Output.from_input(list)` for the `allowedCidrs` output created one Output per address (1,500+
   Outputs and their tasks). The list is now produced by a single apply.
3. The typed invoke result for the project's addresses is converted field by field by the Pulumi SDK
   (`translate_output_properties`): inherent to typed lookups, left as is.

Before those two changes: 500 clusters took 1.88 s whole-process (1.47 × floor) and 1.43 s in-process
against a 0.91 s floor; a warm in-process run took 0.47 s, now about 0.33 s. The remaining cost per
update is dominated by importing the Pulumi SDKs, which the floor pays too.

For the drift command, the first version asked Atlas for the control-plane list once per stack, opened a
new connection and answered a fresh digest challenge for every call, and listed every IAM role and its tags
once per stack: 10 stacks took 1.47 s with 100 ms latency. All three are now once per run (or per thread).
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
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, for a smoke run")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()
    reps = 2 if args.quick else 5
    started = time.perf_counter()
    print("program cost ...", flush=True)
    cost = program_cost(reps, [1, 10, 100, 500])
    print("capacity ...", flush=True)
    cap = capacity()
    print("determinism ...", flush=True)
    det = determinism(100, 3 if args.quick else 10)
    print("drift ...", flush=True)
    latency = 0.1
    drift_rows = drift_timing(latency, [1, 10] if args.quick else [1, 50])
    elapsed = time.perf_counter() - started

    lines = [
        "# Benchmarks", "",
        f"Generated by `make bench` (`venv/bin/python -m bench.run{' --quick' if args.quick else ''}`) on "
        f"{time.strftime('%Y-%m-%d')}, in {elapsed:.0f} s. Medians, with min–max in parentheses.", "",
        "## Machine", "", *machine(), "",
        "## 1. Program cost per update", "",
        f"Whole-process wall time and peak RSS of `python -m bench.child` ({reps} runs each, interleaved): the real",
        "program under the mock runtime, the same path as the offline preview, on the same-account sample stack",
        "with the bundled control-plane list and N clusters of 3 scattered addresses each. The floor imports the same",
        "SDKs (pulumi, pulumi_aws, pulumi_mongodbatlas) and registers one resource under the same mocks.", "",
        "| case | resources | allowed CIDRs | wall s | × floor | peak MiB | × floor | in-process s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in cost:
        lines.append(f"| {r['case']} | {r['resources']} | {r['cidrs']} | {r['wall']} | {r['wall_ratio']:.2f} | {r['mem']} | "
                     f"{r['mem_ratio']:.2f} | {r['inner']:.2f} |")
    lines += [
        "", "500 clusters × 3 scattered addresses (1,500 + the control plane) still fit a role: they are split over",
        "several managed policies (the resource count grows by two per part). Past about 3,000 scattered addresses",
        "the program stops with the size error before registering anything (section 2).", "",
        "## 2. Address capacity", "",
        f"Scattered public IPv4 /32s (no two adjacent, so nothing collapses); {cap['per_address']:.1f} characters per",
        f"address in the JSON (quotes and comma included); {cap['overhead']} characters of fixed document overhead,",
        "sized with the longest possible key ARN. Found by binary search with the program's own `chunk_cidrs`.", "",
        "| budget | program (sorted, collapsed, one statement) | theoretical bound | naive (one statement per address) |",
        "|---|---|---|---|",
        f"| one managed policy (6,144) | {cap['one_managed']} | {cap['bound_one']} | {cap['naive_one']} |",
        f"| inline budget of a role (10,240) | {cap['inline']} | {cap['bound_inline']} | {cap['naive_inline']} |",
        f"| role with splitting (10 × 6,144) | {cap['role']} | {cap['bound_role']} | {cap['naive_one'] * 10} |",
        "", f"Realistic ranges (runs of 2–16 consecutive addresses, which collapse): {cap['range_blocks']} ranges,",
        f"{cap['range_addresses']} addresses, collapse to {cap['range_cidrs']} CIDRs and fit one role.", "",
        "A key policy this program writes carries the same list and is limited to 32,768 bytes, about 1,800",
        "scattered addresses: in modes 1 and 3 that, not the role, is the binding limit.", "",
        "## 3. Determinism", "",
        f"{det['shuffles']} shuffled orderings of the same inputs (regions, clusters and addresses reordered) gave "
        f"**{det['distinct']}** distinct set of policy documents through the pure functions; {det['program_runs']} shuffled "
        f"runs of the whole program gave **{det['program_distinct']}**.", "",
        "## 4. The drift command", "",
        f"`python -m drift --all-stacks` against the tests' stand-ins (moto IAM server; digest-auth Atlas stand-in with "
        f"{latency * 1000:.0f} ms added to every answer), 3 runs each.", "",
        "| stacks | wall s | stacks × the 1-stack time (one after another) |", "|---|---|---|",
        *[f"| {r['stacks']} | {r['wall']} | {r['stacks'] * drift_rows[0]['median']:.2f} s |" for r in drift_rows], "",
        "Stacks are checked by a pool of 8 threads; IAM's role list and Atlas's control-plane list are read once",
        "per run, and each thread keeps its HTTP session and digest nonce.", "",
        FINDINGS,
    ]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
