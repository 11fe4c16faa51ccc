"""The engine between two runs, modelled once: the steps an update takes, and every state on the way.

No engine runs here. From the resources one run of the program registered (`before`, applied) to
those the next run registers (`after`, with Atlas's answers as they are by then), this derives the
steps `pulumi up` takes, as the engine decides them:

- same URN: `same`, `update`, or `replace` by the provider's rules for the changed properties
  (`REPLACE_ON`, read from the providers' sources) and the program's `replaceOnChanges`;
  replacements create the new resource first and delete the old one with the deletes;
- new URN: `create`; gone URN: `delete`, after every create and update, in reverse dependency
  order (dependents first); refused when the old state is protected, a no-op ("forget") when it is
  retained on delete; a replacement of a protected resource is refused as well.
  (pulumi/pulumi pkg/resource/deploy/step_generator.go and step.go; docs "protect", "retainOnDelete",
  "deleteBeforeReplace": create-before-delete is the default.)

A step may run once every step of its dependencies has run, so the states an update can pass through
are exactly the sets of steps closed under dependencies ("ideals"); every order the dependencies
allow visits only such states. `transition` enumerates them all (or, past `limit`, every state of a
sample of the worst orders) and, at each, asks the drift command's evaluator whether Atlas can use
the keys it is using, from every address it uses, with the role it is using:

- until the EncryptionAtRest step has run, Atlas holds the key it held before; once it has run,
  Atlas uses the new key and still the old one (until the change has deployed, MongoDB);
- Atlas calls with the role its authorization names at that moment;
- every key kept for restores in both runs keeps kms:Decrypt and kms:DescribeKey.
An address is required when Atlas uses it and the policies allowed it when the update began (what
worked must keep working; a new address Atlas reports is not a gap of the update that adds it), and,
for a key Atlas is newly pointed at, when the end state allows it (it must work the moment it is used).
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from core.arns import account_of, key_id_of, partition_of_arn
from core.policies import RESTORE_ACTIONS, USE_ACTIONS
from drift.evaluate import Ranges, effective_allowed
from offline.harness import ProgramRun, Registration, engine_urn
from offline.model import (
    ATTACH,
    ATTACH_EXCLUSIVE,
    AUTH,
    EAR,
    ENDPOINT,
    INLINE,
    INLINE_EXCLUSIVE,
    KEY,
    KEY_POLICY,
    POLICY,
    REPLACE_ON,
    ROLE,
    differs,
    reveal,
)

# Resources whose state decides whether Atlas can use a key; the others (alerts, aliases, waits,
# providers) cannot open a gap, so their steps are left out of the enumeration of states.
RELEVANT = frozenset({KEY, KEY_POLICY, ROLE, POLICY, ATTACH, INLINE, AUTH, EAR, ENDPOINT, ATTACH_EXCLUSIVE,
                      INLINE_EXCLUSIVE})

Key = tuple[str, str]
StepKind = Literal["create", "import", "update", "replace", "delete", "delete-replaced"]


class EngineRefusedError(Exception):
    """The engine refuses the update (a protected resource would be deleted or replaced)."""


@dataclass(frozen=True)
class Step:
    kind: StepKind
    key: Key
    changed: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.kind} {self.key[1]}" + (f" ({', '.join(self.changed)})" if self.changed else "")


@dataclass
class Gap:
    """A state of the update in which Atlas is denied something it needs."""

    done: tuple[str, ...]  # the steps that have run
    key_arn: str
    action: str
    denied: list[str]
    why: str

    def __str__(self) -> str:
        return (f"after [{'; '.join(self.done) or 'nothing'}]: {self.why}: {self.action} on {self.key_arn} denied "
                f"from {', '.join(self.denied[:4])}{' ...' if len(self.denied) > 4 else ''}")


@dataclass
class Transition:
    steps: list[Step]
    states: int
    exhaustive: bool
    gaps: list[Gap] = field(default_factory=list)
    forgotten: list[Key] = field(default_factory=list)  # deletes that only drop state (retainOnDelete)
    # The two runs, and the dependencies between the steps, for the interrupted updates.
    before: ProgramRun | None = None
    after: ProgramRun | None = None
    needs: dict[int, set[int]] = field(default_factory=dict)
    # How this transition was judged (the addresses, the retained keys, a foreign key's policy).
    options: dict[str, Any] = field(default_factory=dict)

    def kinds(self, kind: StepKind) -> list[str]:
        return [s.key[1] for s in self.steps if s.kind == kind]


def plan(before: ProgramRun, after: ProgramRun, replace: Iterable[Key] = ()) -> list[Step]:
    """The steps the engine takes from `before`'s state to `after`'s registrations; raises
    EngineRefusedError where the engine refuses the update (as it does already at preview).
    `replace`: what `pulumi up --replace` names.

    What `before` holds outside the state (made by hand or by another tool) is never deleted; a
    registration that imports it is an `import` (read, then updated in place in the same step when the
    program differs; a difference that needs a replacement is refused, pulumi >= 3.174, PR 19339).
    A resource left marked for deletion by an update that stopped is deleted at the end (PR 11027)."""
    forced_by_user = set(replace)
    old = {(r.type, r.name): r for r in before.registrations if not r.unmanaged and not r.pending_delete}
    outside = {(r.type, r.id): r for r in before.registrations if r.unmanaged}
    steps: list[Step] = []
    for r in after.registrations:
        k = (r.type, r.name)
        if k not in old:
            source = outside.get((r.type, r.import_id)) if r.import_id else None
            steps.append(_import_step(r, source) if source is not None else Step("create", k))
            continue
        step = _change_step(r, old[k], k in forced_by_user)
        if step is not None:
            steps.append(step)
    current = {(r.type, r.name) for r in after.registrations}
    for r in before.registrations:
        k = (r.type, r.name)
        if k not in current and not r.unmanaged and not r.pending_delete:
            if r.protect:
                raise EngineRefusedError(f"resource {r.urn} cannot be deleted because it is protected")
            steps.append(Step("delete", k))
    steps += [Step("delete-replaced", s.key) for s in steps if s.kind == "replace"]
    steps += [Step("delete-replaced", (r.type, r.name)) for r in before.registrations if r.pending_delete]
    return steps


def _changed(r: Registration, prev: Mapping[str, Any], prev_inputs: Mapping[str, Any]) -> tuple[str, ...]:
    # An input the program stopped setting is a change as well (the provider unsets it).
    dropped = {p for p in prev_inputs if p not in r.inputs and prev_inputs[p] is not None}
    return tuple(sorted(dropped | {p for p in r.inputs if differs(reveal(r.inputs[p]), reveal(prev.get(p)))}))


def _import_step(r: Registration, source: Registration) -> Step:
    changed = tuple(p for p in _changed(r, {**source.inputs, **source.state}, {}) if p in source.state)
    forced = REPLACE_ON.get(r.type, frozenset()) | set(r.replace_on_changes)
    if set(changed) & forced:
        raise EngineRefusedError(f"inputs to import do not match the existing resource {r.urn} ({', '.join(changed)}): "
                                 "previously-imported resources that still specify an ID may not be replaced")
    return Step("import", (r.type, r.name), changed)


def _change_step(r: Registration, prev: Registration, forced_by_user: bool) -> Step | None:
    k = (r.type, r.name)
    changed = _changed(r, prev.state, prev.inputs)
    if not changed and not forced_by_user:
        return None
    forced = REPLACE_ON.get(r.type, frozenset()) | set(r.replace_on_changes)
    if set(changed) & forced or "*" in r.replace_on_changes or forced_by_user:
        if prev.protect and r.protect:
            raise EngineRefusedError(f"unable to replace resource {r.urn} as it is currently marked for protection "
                                     f"(changed: {', '.join(changed)})")
        return Step("replace", k, changed)
    return Step("update", k, changed)


def _prerequisites(steps: list[Step], before: ProgramRun, after: ProgramRun) -> dict[int, set[int]]:
    index = {(s.kind in ("delete", "delete-replaced"), s.key): i for i, s in enumerate(steps)}
    by_urn_after = {r.urn: (r.type, r.name) for r in after.registrations}
    by_urn_before = {r.urn: (r.type, r.name) for r in before.registrations if not r.unmanaged}
    forward = [i for i, s in enumerate(steps) if s.kind not in ("delete", "delete-replaced")]
    needs: dict[int, set[int]] = {i: set() for i in range(len(steps))}
    for r in after.registrations:
        i = index.get((False, (r.type, r.name)))
        if i is None:
            continue
        for dep in r.dependencies:
            j = index.get((False, by_urn_after.get(dep, ("", ""))))
            if j is not None:
                needs[i].add(j)
    for r in before.registrations:
        i = index.get((True, (r.type, r.name)))
        if i is None or r.unmanaged:
            continue
        # Deletes run after every create and update, dependents first.
        needs[i].update(forward)
        for other in before.registrations:
            if r.urn in other.dependencies and not other.unmanaged:
                j = index.get((True, by_urn_before[other.urn]))
                if j is not None:
                    needs[i].add(j)
    return needs


def _ideals(needs: Mapping[int, set[int]], relevant: set[int], limit: int, seed: int) -> tuple[list[frozenset[int]], bool]:
    """Every dependency-closed set of steps (on the relevant steps, the others taken as they come),
    or, past `limit`, the states of sampled orders."""
    closure: dict[int, set[int]] = {}

    def close(i: int) -> set[int]:
        if i not in closure:
            out = set(needs[i])
            for j in needs[i]:
                out |= close(j)
            closure[i] = out
        return closure[i]

    for i in needs:
        close(i)
    # A relevant step is reachable with everything it needs (relevant or not) done before it.
    seen: set[frozenset[int]] = {frozenset()}
    frontier = [frozenset[int]()]
    while frontier:
        state = frontier.pop()
        for i in relevant - state:
            if closure[i] & relevant <= state:
                nxt = state | {i}
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
                    if len(seen) > limit:
                        return _sampled(needs, relevant, closure, seed), False
    return sorted(seen, key=len), True


def _sampled(needs: Mapping[int, set[int]], relevant: set[int], closure: Mapping[int, set[int]],
             seed: int) -> list[frozenset[int]]:
    rng = random.Random(seed)
    states: set[frozenset[int]] = {frozenset()}
    for _ in range(200):
        done: set[int] = set()
        while relevant - done:
            ready = [i for i in relevant - done if closure[i] & relevant <= done]
            done.add(rng.choice(ready))
            states.add(frozenset(done))
    return sorted(states, key=len)


@dataclass
class _Live:
    """The resources that exist in one state of the update, each as it is then."""

    versions: list[Registration]

    def of(self, typ: str) -> list[Registration]:
        return [r for r in self.versions if r.type == typ]


def _live(steps: list[Step], done: frozenset[int], before: ProgramRun, after: ProgramRun) -> _Live:
    old = {(r.type, r.name): r for r in before.registrations if not r.unmanaged and not r.pending_delete}
    new = {(r.type, r.name): r for r in after.registrations}
    ran = {(steps[i].kind, steps[i].key) for i in done}
    versions: list[Registration] = []
    for k, r in new.items():
        if k not in old:
            if ("create", k) in ran or ("import", k) in ran:
                versions.append(r)
            continue
        if ("update", k) in ran:
            versions.append(r)
        elif ("replace", k) in ran:
            versions.append(r)
            if ("delete-replaced", k) not in ran:
                versions.append(old[k])
        else:
            versions.append(old[k])
    for k, r in old.items():
        if k not in new and ("delete", k) not in ran:
            versions.append(r)
    versions += [r for r in before.registrations if r.pending_delete and ("delete-replaced", (r.type, r.name)) not in ran]
    imported = {(r.type, r.import_id) for r in after.registrations if ("import", (r.type, r.name)) in ran}
    versions += [r for r in before.registrations if r.unmanaged and (r.type, r.id) not in imported]
    written = [r for k, r in new.items() if k[0] in (ATTACH_EXCLUSIVE, INLINE_EXCLUSIVE)
               and any((kind, k) in ran for kind in ("create", "update", "import", "replace"))]
    return _Live(_exclusive(versions, written))


def _exclusive(versions: list[Registration], written: list[Registration]) -> list[Registration]:
    """A role's exclusive attachments and inline policies act when they are written (created or updated),
    on what the role carries then: everything not listed is detached or deleted. What another step of the
    same update attaches after it stays until the next write (or `pulumi up --refresh`, pulumi-aws issue
    4766). The program's own policies are written before them (they depend on them), so only what it did
    not write goes."""
    kept_arns = {v["roleName"]: set(v.get("policyArns") or []) for v in map(_values, written) if "policyArns" in v}
    kept_names = {v["roleName"]: set(v.get("policyNames") or []) for v in map(_values, written) if "policyNames" in v}
    out = []
    for r in versions:
        v = _values(r)
        if r.type == ATTACH and v.get("role") in kept_arns and v.get("policyArn") not in kept_arns[v["role"]]:
            continue
        if r.type == INLINE and v.get("role") in kept_names and v.get("name") not in kept_names[v["role"]]:
            continue
        out.append(r)
    return out


def _values(r: Registration) -> dict[str, Any]:
    """A resource as it exists: its stored outputs, with the inputs it was written with."""
    return dict(reveal({**r.state, **r.inputs}))


def _identity(live: _Live, role_arn: str) -> list[tuple[str, dict[str, Any]]]:
    role = next((_values(r) for r in live.of(ROLE) if _values(r).get("arn") == role_arn), None)
    if role is None:
        return []
    name = role.get("name")
    policies = {_values(r).get("arn"): _values(r) for r in live.of(POLICY)}
    docs: list[tuple[str, dict[str, Any]]] = []
    for a in live.of(ATTACH):
        v = _values(a)
        if v.get("role") == name and v.get("policyArn") in policies:
            docs.append((f"managed {v['policyArn']}", json.loads(policies[v["policyArn"]]["policy"])))
    for p in live.of(INLINE):
        v = _values(p)
        if v.get("role") == name:
            docs.append((f"inline {p.name}", json.loads(v["policy"])))
    return docs


def _key_policy(live: _Live, key_arn: str, external: Callable[[str], dict[str, Any] | None]) -> dict[str, Any] | None:
    for k in live.of(KEY):
        v = _values(k)
        if v.get("arn") == key_arn and v.get("policy"):
            return dict(json.loads(v["policy"]))
    for kp in live.of(KEY_POLICY):
        v = _values(kp)
        if key_id_of(str(v.get("keyId", ""))) == key_id_of(key_arn):
            return dict(json.loads(v["policy"]))
    return external(key_arn)


def aws_default_key_policy(key_arn: str) -> dict[str, Any]:
    """The key policy AWS gives a key created without one: the key's account, through IAM.
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-root-enable-iam
    """
    partition, account = partition_of_arn(key_arn), account_of(key_arn)
    return {"Version": "2012-10-17", "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"}]}


def _atlas_key(live: _Live) -> str | None:
    ear = next(iter(live.of(EAR)), None)
    if ear is None:
        return None
    kms = _values(ear).get("awsKmsConfig") or {}
    return str(kms.get("customerMasterKeyId")) if kms.get("enabled") else None


def _atlas_role(live: _Live) -> str | None:
    auth = next(iter(live.of(AUTH)), None)
    return str((_values(auth).get("aws") or {}).get("iamAssumedRoleArn")) if auth is not None else None


def _allowed(live: _Live, role: str, key: str, action: str,
             external: Callable[[str], dict[str, Any] | None], vpce: str | None = None) -> Ranges:
    return effective_allowed(_identity(live, role), _key_policy(live, key, external),
                             role_arn=role, key_arn=key, action=action, vpce=vpce)


def targeted(steps: list[Step], before: ProgramRun, after: ProgramRun, targets: Iterable[str]) -> list[Step]:
    """The steps `pulumi up --target URN ...` takes (URNs as the engine writes them, `engine_urn`): only those
    of the targeted resources; the others keep their old state (an untargeted create is skipped, an
    untargeted delete left). Raises EngineRefusedError
    where the engine refuses: a target that names no resource, or a targeted resource that needs (depends on,
    is a child of, or is provisioned by) a resource whose create is not targeted (pulumi/pulumi
    pkg/engine/deployment.go checkTargets; pkg/resource/deploy/step_generator.go, skippedCreates)."""
    wanted = {engine_urn(t) for t in targets}
    urns = {(r.type, r.name): engine_urn(r.urn) for r in before.registrations if not r.unmanaged}
    urns |= {(r.type, r.name): engine_urn(r.urn) for r in after.registrations}
    unknown = sorted(wanted - set(urns.values()))
    if unknown:
        raise EngineRefusedError(f"no resource named '{unknown[0]}' found")
    skipped = {urns[s.key] for s in steps if s.kind in ("create", "import") and urns[s.key] not in wanted}
    kept = [s for s in steps if urns[s.key] in wanted]
    by_key = {(r.type, r.name): r for r in after.registrations}
    for s in kept:
        r = by_key.get(s.key)
        if r is None or s.kind in ("delete", "delete-replaced"):
            continue
        for dep in map(engine_urn, [*r.dependencies, r.parent, r.provider.rsplit("::", 1)[0] if r.provider else ""]):
            if dep in skipped:
                raise EngineRefusedError(f"Resource '{engine_urn(r.urn)}' depends on '{dep}' which was was not specified in "
                                         "--target list.")
    return kept


def applied(t: Transition) -> ProgramRun:
    """The state the update leaves once every one of its steps has run (with targets: the targeted ones)."""
    return stopped_at(t, frozenset(range(len(t.steps))))


def transition(before: ProgramRun, after: ProgramRun, *, atlas_addresses: Iterable[str] | None = None,
               retained: Iterable[str] = (), external_key_policy: Callable[[str], dict[str, Any] | None] = aws_default_key_policy,
               replace: Iterable[Key] = (), limit: int = 20_000, seed: int = 0,
               targets: Iterable[str] | None = None) -> Transition:
    """Every state between `before` (applied) and `after`, judged as Atlas would be served.

    `atlas_addresses`: the addresses Atlas uses during the update (default: `after`'s allowedCidrs, or
    `before`'s when `after` allows none).
    `retained`: keys that snapshots need in both runs (default: in both runs' retainedKeyArns).
    `external_key_policy`: the policy of a key the program does not write (default: AWS's default).
    `targets`: the URNs of `pulumi up --target`: only their steps run (`targeted`).
    """
    steps = plan(before, after, replace)
    if targets is not None:
        targets = tuple(targets)
        steps = targeted(steps, before, after, targets)
    needs = _prerequisites(steps, before, after)
    relevant = {i for i, s in enumerate(steps) if s.key[0] in RELEVANT}
    ideals, exhaustive = _ideals(needs, relevant, limit, seed)
    result = Transition(steps=steps, states=len(ideals), exhaustive=exhaustive, before=before, after=after, needs=needs,
                        options={"atlas_addresses": atlas_addresses, "retained": retained, "targets": targets,
                                 "external_key_policy": external_key_policy, "limit": limit, "seed": seed})
    result.forgotten = [s.key for s in steps if s.kind == "delete"]
    # Atlas's addresses: those the end state allows; for a private end state (it allows none) those of the
    # start, from which Atlas still calls until its endpoint is ACTIVE.
    addresses = Ranges.of(list(atlas_addresses) if atlas_addresses is not None else
                          (after.outputs.get("allowedCidrs") or before.outputs.get("allowedCidrs") or []))
    kept = set(retained) or (set(before.outputs.get("retainedKeyArns") or []) & set(after.outputs.get("retainedKeyArns") or []))
    judge = _Judge(steps, before, after, addresses, sorted(kept), external_key_policy)
    for state in ideals:
        result.gaps += judge.state(state)
    return result


class _Judge:
    """What Atlas needs in one state of the update, and whether that state serves it."""

    def __init__(self, steps: list[Step], before: ProgramRun, after: ProgramRun, addresses: Ranges, kept: list[str],
                 external: Callable[[str], dict[str, Any] | None]) -> None:
        self.steps, self.before, self.after, self.addresses, self.kept, self.external = steps, before, after, addresses, kept, external
        self.ear_steps = {i for i, s in enumerate(steps) if s.key[0] == EAR and s.kind in ("update", "replace", "create", "import")}
        self.start = _live(steps, frozenset(), before, after)
        self.end = _live(steps, frozenset(range(len(steps))), before, after)
        self.held_before = _atlas_key(self.start)
        self.role_start, self.role_end = _atlas_role(self.start), _atlas_role(self.end)
        self.required_cache: dict[tuple[str, str, str, str], Ranges] = {}

    def required(self, role_then: str | None, then: _Live, key: str, action: str) -> Ranges:
        """What the state Atlas relies on allowed: from Atlas's addresses, with the role it used then."""
        marker = (role_then or "", "start" if then is self.start else "end", key, action)
        if marker not in self.required_cache:
            self.required_cache[marker] = self.addresses & _allowed(then, role_then, key, action, self.external) \
                if role_then else Ranges.none()
        return self.required_cache[marker]

    def needed(self, state: frozenset[int], held_now: str | None) -> list[tuple[str, tuple[str, ...], str, _Live, str | None]]:
        """(key, actions, why, the state whose grants it relies on, its role): what worked before must keep
        working; a key Atlas is newly pointed at must already work as the end state has it."""
        out: list[tuple[str, tuple[str, ...], str, _Live, str | None]] = []
        if self.held_before:
            out.append((self.held_before, USE_ACTIONS, "the key Atlas held when the update began", self.start, self.role_start))
        if held_now and held_now != self.held_before and self.ear_steps & state:
            out.append((held_now, USE_ACTIONS, "the key Atlas has just been pointed at", self.end, self.role_end))
        out += [(k, RESTORE_ACTIONS, "a key retained for restores", self.start, self.role_start) for k in self.kept]
        return out

    def state(self, state: frozenset[int]) -> list[Gap]:
        live = _live(self.steps, state, self.before, self.after)
        role = _atlas_role(live)
        if role is None:
            return []  # Atlas has no role yet: it uses no key
        held_now = _atlas_key(live)
        done = tuple(str(self.steps[i]) for i in sorted(state))
        gaps: list[Gap] = []
        require, endpoints = _private_state(live)
        if not require and endpoints and _private_state(self.start)[0]:
            # Atlas refuses turning requirePrivateNetworking off while endpoints exist (MongoDB docs).
            gaps.append(Gap(done, held_now or "", "", [], "Atlas refuses: requirePrivateNetworking turned off while "
                            "KMS private endpoints still exist (CANNOT_DISABLE_..._WHILE_PRIVATE_ENDPOINTS_EXIST)"))
        # With private networking required and an endpoint ACTIVE, Atlas calls KMS through it (a request
        # with aws:SourceVpce and no aws:SourceIp); until then, from its public addresses.
        private = endpoints if require else []
        for key, actions, why, then, role_then in self.needed(state, held_now):
            for action in actions:
                if private:
                    # Atlas may call through any of its ACTIVE endpoints: each must be allowed.
                    denied = [v for v in private if _allowed(live, role, key, action, self.external, v).is_empty()]
                    if denied:
                        gaps.append(Gap(done, key, action, denied, why + ", through Atlas's VPC endpoint"))
                    continue
                missing = self.required(role_then, then, key, action) - _allowed(live, role, key, action, self.external)
                if not missing.is_empty():
                    gaps.append(Gap(done, key, action, missing.cidrs(), why))
        return gaps


def _private_state(live: _Live) -> tuple[bool, list[str]]:
    """(requirePrivateNetworking as Atlas holds it now, the ids of its ACTIVE KMS private endpoints)."""
    ear = next(iter(live.of(EAR)), None)
    require = bool((_values(ear).get("awsKmsConfig") or {}).get("requirePrivateNetworking")) if ear is not None else False
    active = sorted(str(_values(e).get("privateEndpointConnectionName")) for e in live.of(ENDPOINT)
                    if _values(e).get("status") == "ACTIVE")
    return require, active


def orders(steps: list[Step], needs: Mapping[int, set[int]]) -> Iterable[tuple[int, ...]]:
    """Every order the dependencies allow (for tests of small plans)."""
    for perm in itertools.permutations(range(len(steps))):
        pos = {s: i for i, s in enumerate(perm)}
        if all(pos[j] < pos[i] for i in needs for j in needs[i]):
            yield perm


# --- updates that stop part way ------------------------------------------------------------------


@dataclass
class Interruption:
    """An update that stopped after `done`, and the same program run again from where it stopped."""

    done: tuple[str, ...]
    resumed: Transition
    # What the resumed update still would change against the uninterrupted update's end ([]: the same end).
    differs_from_end: list[str]

    def __str__(self) -> str:
        return (f"stopped after [{'; '.join(self.done) or 'nothing'}]: {len(self.resumed.gaps)} gap(s) when run again"
                + (f", ends elsewhere: {'; '.join(self.differs_from_end[:3])}" if self.differs_from_end else ""))


def stop_states(t: Transition) -> list[frozenset[int]]:
    """Where an update can stop: after each step of the engine's order (a failed step lets the steps in
    flight finish and starts no new one, pulumi/pulumi stepExecutor.cancelDueToError), one state per
    distinct set of the steps that decide Atlas's access."""
    return _distinct(t, _prefixes(t))


def continue_on_error_states(t: Transition) -> list[frozenset[int]]:
    """Where `pulumi up --continue-on-error` (3.114+) ends when one step fails: every other step runs,
    except the failed step's dependents, which are skipped."""
    closure = {i: _dependents(t, i) for i in range(len(t.steps))}
    ends = [frozenset(range(len(t.steps))) - closure[f] - {f} for f in range(len(t.steps))]
    return _distinct(t, ends)


def _dependents(t: Transition, failed: int) -> set[int]:
    out: set[int] = set()
    frontier = [failed]
    while frontier:
        i = frontier.pop()
        for j, needs in t.needs.items():
            if i in needs and j not in out:
                out.add(j)
                frontier.append(j)
    return out


def _distinct(t: Transition, states: Iterable[frozenset[int]]) -> list[frozenset[int]]:
    out: list[frozenset[int]] = []
    seen: set[frozenset[int]] = set()
    for done in states:
        relevant = frozenset(i for i in done if t.steps[i].key[0] in RELEVANT)
        if relevant not in seen and len(done) < len(t.steps):
            seen.add(relevant)
            out.append(done)
    return out


def _prefixes(t: Transition) -> list[frozenset[int]]:
    order: list[int] = []
    while len(order) < len(t.steps):
        order.append(min(i for i in range(len(t.steps)) if i not in order and t.needs.get(i, set()) <= set(order)))
    return [frozenset(order[:n]) for n in range(1, len(order))]


def stopped_at(t: Transition, done: frozenset[int]) -> ProgramRun:
    """The state an update leaves when it stops with `done` run: the new version of what ran, the old one
    of the rest, a replaced resource whose replacement exists marked for deletion, and what exists
    outside the state as it is then."""
    assert t.before is not None and t.after is not None
    live = _live(t.steps, done, t.before, t.after)
    new = {(r.type, r.name): r for r in t.after.registrations}
    registrations = []
    for r in live.versions:
        k = (r.type, r.name)
        pending = not r.unmanaged and k in new and r is not new[k] and any(
            t.steps[i].kind == "replace" and t.steps[i].key == k for i in done)
        registrations.append(replace(r, pending_delete=r.pending_delete or pending))
    kept = set(t.before.outputs.get("retainedKeyArns") or []) & set(t.after.outputs.get("retainedKeyArns") or [])
    outputs = {"allowedCidrs": t.after.outputs.get("allowedCidrs") or t.before.outputs.get("allowedCidrs") or [],
               "retainedKeyArns": sorted(kept)}
    return ProgramRun(outputs=outputs, registrations=registrations, calls=[], logs=[], config=t.after.config,
                      stack=t.after.stack, world=t.after.world)


def interruptions(t: Transition, *, continue_on_error: bool = True) -> list[Interruption]:
    """For every place the update can stop: the same program run again from there, judged as any update
    (every state gap-free), and whether it ends where the uninterrupted update ends (or where the next run
    after it settles: a resumed run may already see what that next run would see, such as Atlas on its
    new role)."""
    assert t.after is not None
    after = t.after
    settled: list[ProgramRun] = []

    def ends_elsewhere(again: ProgramRun) -> list[str]:
        differs = again.changes_against(after)
        if differs and after.config:
            if not settled:
                settled.append(after.rerun(after.stored_state(), {}, atlas_moved=True))
            differs = min(differs, again.changes_against(settled[0]), key=len)
        return differs

    out = []
    states = stop_states(t) + (continue_on_error_states(t) if continue_on_error else [])
    for done in _distinct(t, states):
        partial = stopped_at(t, done)
        outside = {(r.type, f"{r.name}#{'pending-delete' if r.pending_delete else 'outside'}"): (r.id, dict(r.state))
                   for r in partial.registrations if r.unmanaged or r.pending_delete}
        moved = any(t.steps[i].key[0] == EAR for i in done)
        # `pulumi up --replace` run again names what it has not replaced yet.
        pending = frozenset(k for k in (t.after.world.replace if t.after.world else ())
                            if not any(t.steps[i].kind == "replace" and t.steps[i].key == k for i in done))
        again = t.after.rerun(partial.stored_state(), outside, atlas_moved=moved, replace_again=pending)
        resumed = transition(partial, again, replace=pending, **t.options)
        out.append(Interruption(tuple(str(t.steps[i]) for i in sorted(done)), resumed, ends_elsewhere(again)))
    return out
