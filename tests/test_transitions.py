"""Key lifecycle transitions, proved in the update simulator: each row states its outcome.

Every row applies one run of the program, then the next (the changed config or world, with Atlas's
answers as they are by then: what the previous run applied), and `offline.simulator.transition`
checks every state the engine can pass through between them with the drift command's evaluator:
Atlas can use the key it holds, the key it is pointed at once it is, and every retained key for
restores, from every address it uses, with the role it is using. A created key is never deleted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest

import core.lifecycle
from config.stackfile import read_stack_config
from core.lifecycle import KeyPlan, KeyRef
from drift.evaluate import Ranges, effective_allowed
from offline.harness import ROOT, ProgramRun, World, run_program
from offline.model import EAR, ENDPOINT, KEY, ROLE, reveal
from offline.simulator import (
    EngineRefusedError,
    Transition,
    applied,
    aws_default_key_policy,
    interruptions,
    transition,
)
from policy_pack.rules import RULES

STACKS = ROOT / "samples" / "stacks"
A = "arn:aws:kms:eu-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
B = "arn:aws:kms:eu-west-2:111122223333:key/bbbbbbbb-12ab-34cd-56ef-1234567890ab"
FOREIGN_A = "arn:aws:kms:eu-west-2:444455556666:key/mrk-0123456789abcdef0123456789abcdef"
FOREIGN_B = "arn:aws:kms:eu-west-2:444455556666:key/mrk-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
RESTORE = ("kms:Decrypt", "kms:DescribeKey")
USE = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt")


def config(stack: str, drop: Iterable[str] = (), **settings: Any) -> dict[str, str]:
    cfg = read_stack_config(STACKS / f"Pulumi.{stack}.yaml")
    for key in drop:
        cfg.pop(f"atlas-kms:{key}", None)
    for key, value in settings.items():
        cfg[f"atlas-kms:{key}"] = value if isinstance(value, str) else json.dumps(value)
    return cfg


def apply(cfg: dict[str, str], stack: str, before: ProgramRun | None = None, *, replace: Iterable[tuple[str, str]] = (),
          world: World | None = None) -> ProgramRun:
    """One `pulumi up`: the program against the state `before` left, Atlas answering what it applied."""
    w = world or World.sample()
    w.region = cfg.get("aws:region")
    if before is not None:
        w.stored = before.stored_state()
    w.replace = frozenset(replace)
    run = run_program(cfg, stack=stack, world=w)
    # Every run on the way, two keys and restore statements included, passes the policy pack.
    for reg in run.registrations:
        for rule in RULES:
            assert rule.check(reg.type, reveal(reg.inputs)) == [], (rule.name, reg.name)
    return run


def warnings(run: ProgramRun) -> list[str]:
    return [line for line in run.logs if line.startswith("warning:")]


def allowed_at_end(run: ProgramRun, key: str, action: str, external: Any = aws_default_key_policy) -> Ranges:
    t = transition(run, run)
    assert not t.steps
    from offline.simulator import _identity, _key_policy, _live  # the simulator's own view of one state

    live = _live([], frozenset(), run, run)
    role = run.outputs["roleArn"]
    return effective_allowed(_identity(live, role), _key_policy(live, key, external), role_arn=role, key_arn=key,
                             action=action)


def holds(t: Transition) -> None:
    """The row's outcome: every state checked, none denies Atlas, no created key deleted; and wherever the
    update stops, the same program run again from there is gap-free and ends where this update ends."""
    assert t.exhaustive and t.states == (len(t.steps) and t.states) + (not t.steps)
    assert not t.gaps, "\n".join(map(str, t.gaps[:5]))
    assert all(kind != "delete" or typ != KEY for kind, (typ, _) in ((s.kind, s.key) for s in t.steps))
    for stop in interruptions(t):
        assert not stop.resumed.gaps and not stop.differs_from_end, f"{stop}\n" + "\n".join(map(str, stop.resumed.gaps[:3]))


def created_keys_are_kept(run: ProgramRun) -> None:
    for key in run.of_type(KEY):
        assert key.protect and key.retain_on_delete


# --- keyArn A -> B ---------------------------------------------------------------------------


def test_changing_key_arn_keeps_the_old_key_usable_until_atlas_reports_the_new_one() -> None:
    first = apply(config("existing-key", keyArn=A), "existing-key")
    moving = apply(config("existing-key", keyArn=B), "existing-key", first)
    holds(transition(first, moving))
    # Both keys have all three actions while Atlas moves.
    for key in (A, B):
        for action in USE:
            assert not allowed_at_end(moving, key, action).is_empty()
    # Atlas now reports B: A is let go, and nothing asked to keep it.
    moved = apply(config("existing-key", keyArn=B), "existing-key", moving)
    holds(transition(moving, moved))
    assert allowed_at_end(moved, A, "kms:Decrypt").is_empty()


def test_moving_off_a_key_that_is_not_retained_warns_with_the_line_that_keeps_it() -> None:
    first = apply(config("existing-key", keyArn=A), "existing-key")
    moving = apply(config("existing-key", keyArn=B), "existing-key", first)
    [line] = [w for w in warnings(moving) if "moving off" in w]
    assert f"pulumi config set --path 'atlas-kms:retainedKeyArns[0]' {A}" in line


def test_a_retained_old_key_keeps_exactly_what_restores_need() -> None:
    first = apply(config("existing-key", keyArn=A), "existing-key")
    moving = apply(config("existing-key", keyArn=B, retainedKeyArns=[A]), "existing-key", first)
    assert not [w for w in warnings(moving) if "moving off" in w]
    moved = apply(config("existing-key", keyArn=B, retainedKeyArns=[A]), "existing-key", moving)
    holds(transition(first, moving))
    holds(transition(moving, moved))
    assert moved.outputs["retainedKeyArns"] == [A]
    for action in RESTORE:
        assert allowed_at_end(moved, A, action) == Ranges.of(moved.outputs["allowedCidrs"])
    assert allowed_at_end(moved, A, "kms:Encrypt").is_empty()


def test_dropping_a_retained_key_lets_it_go_and_never_touches_the_key_atlas_uses() -> None:
    settled = apply(config("existing-key", keyArn=B, retainedKeyArns=[A]), "existing-key",
                    apply(config("existing-key", keyArn=B), "existing-key"))
    dropped = apply(config("existing-key", keyArn=B), "existing-key", settled)
    holds(transition(settled, dropped))  # B stays usable in every state
    assert allowed_at_end(dropped, A, "kms:Decrypt").is_empty()  # least privilege: A is let go


# --- created keys ----------------------------------------------------------------------------


def test_a_new_generation_moves_atlas_without_a_gap_and_keeps_the_first_for_restores() -> None:
    first = apply(config("same-account"), "same-account")
    gen1 = first.outputs["keyArn"]
    moving = apply(config("same-account", keyGeneration=2), "same-account", first)
    t = transition(first, moving)
    holds(t)
    assert t.kinds("create") == ["atlas-kms-key-gen-2", "atlas-kms-key-gen-2-alias"]
    assert moving.outputs["keyArn"] != gen1
    created_keys_are_kept(moving)
    moved = apply(config("same-account", keyGeneration=2), "same-account", moving)
    holds(transition(moving, moved))
    assert moved.outputs["retainedKeyArns"] == [gen1]
    assert allowed_at_end(moved, gen1, "kms:Encrypt").is_empty()
    assert not allowed_at_end(moved, gen1, "kms:Decrypt").is_empty()


def test_a_retired_generation_loses_atlas_access_but_is_never_deleted() -> None:
    gen2 = apply(config("same-account", keyGeneration=2), "same-account",
                 apply(config("same-account", keyGeneration=2), "same-account", apply(config("same-account"), "same-account")))
    gen1 = gen2.outputs["retainedKeyArns"][0]
    retired = apply(config("same-account", keyGeneration=2, retiredKeyGenerations=[1]), "same-account", gen2)
    t = transition(gen2, retired)
    holds(t)
    assert retired.outputs["retainedKeyArns"] == []
    assert allowed_at_end(retired, gen1, "kms:Decrypt").is_empty()
    assert len(retired.of_type(KEY)) == 2
    created_keys_are_kept(retired)


def test_moving_from_a_created_key_to_key_arn_keeps_the_created_key_and_deletes_nothing() -> None:
    first = apply(config("same-account"), "same-account")
    created = first.outputs["keyArn"]
    moving = apply(config("same-account", keyArn=A), "same-account", first)  # no EngineRefusedError
    holds(transition(first, moving))
    assert [k.name for k in moving.of_type(KEY)] == ["atlas-kms-key"]
    created_keys_are_kept(moving)
    moved = apply(config("same-account", keyArn=A), "same-account", moving)
    holds(transition(moving, moved))
    assert moved.outputs["retainedKeyArns"] == [created]


def test_after_moving_to_key_arn_the_created_key_can_be_retired_and_is_kept() -> None:
    first = apply(config("same-account"), "same-account")
    created = first.outputs["keyArn"]
    moved = apply(config("same-account", keyArn=A), "same-account", apply(config("same-account", keyArn=A), "same-account", first))
    assert moved.outputs["retainedKeyArns"] == [created]
    retired = apply(config("same-account", keyArn=A, retiredKeyGenerations=[1]), "same-account", moved)
    holds(transition(moved, retired))
    assert retired.outputs["retainedKeyArns"] == []
    assert allowed_at_end(retired, created, "kms:Decrypt").is_empty()
    assert [k.name for k in retired.of_type(KEY)] == ["atlas-kms-key"]
    created_keys_are_kept(retired)


def test_moving_from_key_arn_to_a_created_key_keeps_the_old_key_until_atlas_moved() -> None:
    first = apply(config("existing-key"), "existing-key")
    moving = apply(config("existing-key", drop=["keyArn"], retainedKeyArns=[A]), "existing-key", first)
    holds(transition(first, moving))
    moved = apply(config("existing-key", drop=["keyArn"], retainedKeyArns=[A]), "existing-key", moving)
    holds(transition(moving, moved))
    assert moved.outputs["retainedKeyArns"] == [A]


def test_a_new_generation_of_a_key_created_in_another_account_moves_without_a_gap() -> None:
    first = apply(config("cross-account"), "cross-account")
    moving = apply(config("cross-account", keyGeneration=2), "cross-account", first)
    holds(transition(first, moving))
    moved = apply(config("cross-account", keyGeneration=2), "cross-account", moving)
    holds(transition(moving, moved))


def test_a_foreign_key_change_is_gap_free_once_its_owner_granted_the_new_key() -> None:
    granted = {"keyAccount": {"keyPolicyGranted": True}}
    first = apply(config("foreign-key", keyArn=FOREIGN_A, **granted), "foreign-key")
    moving = apply(config("foreign-key", keyArn=FOREIGN_B, retainedKeyArns=[FOREIGN_A], **granted), "foreign-key", first)

    def owner_policy(key: str) -> dict[str, Any]:
        # The owner keeps the exported statement in both keys' policies, as the README asks.
        doc = aws_default_key_policy(key)
        doc["Statement"].append(moving.outputs["keyPolicyStatementForOwner"])
        return doc

    holds(transition(first, moving, external_key_policy=owner_policy))


# --- the role, and Atlas's addresses ---------------------------------------------------------


@pytest.mark.parametrize("stack", ["same-account", "existing-key", "cross-account"])
def test_a_replaced_role_gets_every_grant_before_atlas_uses_it_and_the_old_one_keeps_its_own(stack: str) -> None:
    first = apply(config(stack), stack)
    replaced = apply(config(stack), stack, first, replace=[(ROLE, "atlas-kms-role")])
    assert replaced.outputs["roleArn"] != first.outputs["roleArn"]
    holds(transition(first, replaced, replace=[(ROLE, "atlas-kms-role")]))
    # Once the old role is gone, the key policy names the new one only.
    settled = apply(config(stack), stack, replaced)
    holds(transition(replaced, settled))


@pytest.mark.parametrize("stack", ["same-account", "existing-key", "cross-account"])
def test_atlas_adding_and_dropping_node_addresses_opens_no_gap(stack: str) -> None:
    first = apply(config(stack), stack)
    world = World.sample()
    clusters = world.project["services"]["clusters"]
    clusters[0]["outbound"] = [*clusters[0]["outbound"][1:], "198.51.100.150"]
    changed = apply(config(stack), stack, first, world=world)
    t = transition(first, changed)
    holds(t)
    assert any(s.kind == "update" for s in t.steps)


def test_churn_across_ten_managed_parts_never_uncovers_an_address_atlas_still_uses() -> None:
    # The stable split's promise (core/split.py), proved on the registered resources: 1,500 scattered
    # node addresses over several parts, one early address removed and one added.
    world = World.sample()
    firsts = (3, 13, 18, 34, 35, 44, 52, 54)  # public blocks
    nodes = [f"{firsts[i % 8]}.{16 + (i * 7) % 200}.{(i * 13) % 250}.{1 + (i * 11) % 250}" for i in range(1_500)]
    world.project["services"]["clusters"][0]["outbound"] = nodes
    first = apply(config("existing-key"), "existing-key", world=world)
    assert len(first.of_type("aws:iam/policy:Policy")) > 3
    world2 = World.sample()
    world2.project["services"]["clusters"][0]["outbound"] = [*nodes[1:], "52.1.2.3"]
    changed = apply(config("existing-key"), "existing-key", first, world=world2)
    t = transition(first, changed)
    holds(t)
    assert 1 <= len(t.kinds("update")) <= 2  # only the parts that hold the changed addresses


# --- targeted updates (`pulumi up --target`): only the targeted steps run ---------------------------


def world_of(addresses: int) -> World:
    world = World.sample()
    world.project["services"]["clusters"][0]["outbound"] = [f"3.{8 + i // 250}.{i % 250}.7" for i in range(addresses)]
    return world


def urn_of(run: ProgramRun, name: str) -> str:
    [found] = [r.urn for r in run.registrations if r.name == name]
    return found


def test_a_targeted_update_runs_only_its_targets_and_leaves_the_rest_as_it_was() -> None:
    first = apply(config("same-account"), "same-account")
    world = World.sample()
    world.project["services"]["clusters"][0]["outbound"].append("198.51.100.150")
    changed = apply(config("same-account"), "same-account", first, world=world)
    assert {s.key[1] for s in transition(first, changed).steps} == {"atlas-kms-kms-policy-1", "atlas-kms-key"}
    t = transition(first, changed, targets=[urn_of(changed, "atlas-kms-kms-policy-1")])
    assert [str(s) for s in t.steps] == ["update atlas-kms-kms-policy-1 (policy)"]
    assert t.exhaustive and not t.gaps
    after = applied(t)
    [part] = [r for r in after.registrations if r.name == "atlas-kms-kms-policy-1"]
    [key] = [r for r in after.registrations if r.name == "atlas-kms-key"]
    assert "198.51.100.150/32" in part.inputs["policy"] and "198.51.100.150/32" not in key.inputs["policy"]
    # The next full update finishes the job, gap-free.
    assert [str(s) for s in transition(after, changed).steps] == ["update atlas-kms-key (policy)"]
    assert not transition(after, changed).gaps


def test_a_target_that_needs_an_untargeted_create_is_refused_as_the_engine_does() -> None:
    first = apply(config("existing-key"), "existing-key", world=world_of(280))
    grown = apply(config("existing-key"), "existing-key", first, world=world_of(300))
    assert transition(first, grown).kinds("create") == ["atlas-kms-kms-policy-2", "atlas-kms-kms-policy-2-attachment"]
    with pytest.raises(EngineRefusedError, match="which was was not specified in --target list"):
        transition(first, grown, targets=[urn_of(grown, "atlas-kms-kms-policy-2-attachment")])
    with pytest.raises(EngineRefusedError, match="no resource named 'urn:pulumi:existing-key::atlas-kms::nothing' found"):
        transition(first, grown, targets=["urn:pulumi:existing-key::atlas-kms::nothing"])
    every = [urn_of(grown, n) for n in ("atlas-kms-kms-policy-1", "atlas-kms-kms-policy-2",
                                        "atlas-kms-kms-policy-2-attachment", "atlas-kms-role-attachments")]
    t = transition(first, grown, targets=every)
    assert len(t.steps) == len(transition(first, grown).steps) and not t.gaps


# --- the simulator catches what it must --------------------------------------------------------


def test_a_gap_introduced_on_purpose_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    first = apply(config("existing-key", keyArn=A), "existing-key")
    real = core.lifecycle.plan_keys

    def forget_the_outgoing_key(*args: Any, **kwargs: Any) -> KeyPlan:
        plan = real(*args, **kwargs)
        return KeyPlan(plan.target, None, plan.retained, plan.generations, existing=plan.existing)

    monkeypatch.setattr("core.plan.plan_keys", forget_the_outgoing_key)
    moving = apply(config("existing-key", keyArn=B), "existing-key", first)
    gaps = transition(first, moving).gaps
    assert gaps and {g.key_arn for g in gaps} == {A}
    assert {g.action for g in gaps} == set(USE)


NOTHING = ProgramRun({}, [], [], [])  # a stack never deployed: its first `pulumi up` creates everything


def point_atlas_without_waiting_for_the_grants(monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken wiring: the authorization and EncryptionAtRest wait for nothing the role's grants hold."""
    import components.atlas_kms as component

    real_authorization = component.AtlasKmsEncryption._authorization
    real_encryption = component.AtlasKmsEncryption._encryption

    def authorization(self: Any, project: Any, setup: Any, role: Any, grants: Any) -> Any:
        return real_authorization(self, project, setup, role, [])

    def encryption(self: Any, p: Any, project: Any, key_arn: Any, auth: Any, grants: Any) -> Any:
        return real_encryption(self, p, project, key_arn, auth, [])

    monkeypatch.setattr(component.AtlasKmsEncryption, "_authorization", authorization)
    monkeypatch.setattr(component.AtlasKmsEncryption, "_encryption", encryption)


def test_a_first_deployment_grants_the_key_before_atlas_is_pointed_at_it() -> None:
    holds(transition(NOTHING, apply(config("existing-key", keyArn=A), "existing-key")))


def test_a_first_deployment_that_points_atlas_at_the_key_before_its_grant_exists_is_caught(
        monkeypatch: pytest.MonkeyPatch) -> None:
    point_atlas_without_waiting_for_the_grants(monkeypatch)
    first = apply(config("existing-key", keyArn=A), "existing-key")
    gaps = transition(NOTHING, first).gaps
    assert gaps and {g.key_arn for g in gaps} == {A} and {g.action for g in gaps} == set(USE)
    assert {g.why for g in gaps} == {"the key Atlas has just been pointed at"}
    # Exactly the orders in which Atlas holds the key and the role's policy is not attached yet.
    for gap in gaps:
        assert "create atlas-kms-encryption-at-rest" in gap.done
        assert "create atlas-kms-kms-policy-1-attachment" not in gap.done
        assert set(gap.denied) == set(first.outputs["allowedCidrs"])


def test_an_update_that_points_atlas_at_a_new_key_before_its_grant_exists_is_caught(
        monkeypatch: pytest.MonkeyPatch) -> None:
    first = apply(config("existing-key", keyArn=A), "existing-key")
    point_atlas_without_waiting_for_the_grants(monkeypatch)
    moving = apply(config("existing-key", keyArn=B), "existing-key", first)
    gaps = transition(first, moving).gaps
    assert gaps and {g.key_arn for g in gaps} == {B} and {g.action for g in gaps} == set(USE)
    assert {g.why for g in gaps} == {"the key Atlas has just been pointed at"}
    for gap in gaps:
        assert "update atlas-kms-encryption-at-rest (awsKmsConfig)" in gap.done
        assert "update atlas-kms-kms-policy-1 (policy)" not in gap.done


def test_dropping_a_protected_created_key_from_the_program_is_refused_as_the_engine_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    first = apply(config("same-account"), "same-account")
    real = core.lifecycle.plan_keys

    def forget_created_generations(*args: Any, **kwargs: Any) -> KeyPlan:
        plan = real(*args, **kwargs)
        outgoing = KeyRef(arn=plan.outgoing.arn) if plan.outgoing else None
        return KeyPlan(plan.target, outgoing, (), ())

    monkeypatch.setattr("core.plan.plan_keys", forget_created_generations)
    moving = apply(config("same-account", keyArn=A), "same-account", first)
    with pytest.raises(EngineRefusedError, match="cannot be deleted because it is protected"):
        transition(first, moving)


# --- private networking (network: public, both, private) ---------------------------------------


def warns(run: ProgramRun, text: str) -> bool:
    return any(text in line for line in warnings(run))


@pytest.mark.parametrize("stack", ["same-account", "existing-key", "cross-account"])
def test_public_to_both_to_private_and_back_never_opens_a_gap(stack: str) -> None:
    public = apply(config(stack), stack)
    both = apply(config(stack, network="both"), stack, public)
    holds(transition(public, both))
    assert both.outputs["privateEndpoints"][0]["status"] == "ACTIVE"
    private = apply(config(stack, network="private"), stack, both)
    t = transition(both, private)
    holds(t)
    assert private.outputs["allowedCidrs"] == []
    back = apply(config(stack, network="both"), stack, private)
    holds(transition(private, back))
    # Leaving: the first run deletes the endpoints and keeps requirePrivateNetworking (Atlas's order)...
    leaving = apply(config(stack), stack, back)
    t = transition(back, leaving)
    holds(t)
    assert any(s.kind == "delete" and s.key[0] == ENDPOINT for s in t.steps)
    assert reveal(leaving.one(EAR).inputs["awsKmsConfig"])["requirePrivateNetworking"] is True
    # ... and the next turns it off, with the private grant gone.
    left = apply(config(stack), stack, leaving)
    holds(transition(leaving, left))
    assert reveal(left.one(EAR).inputs["awsKmsConfig"])["requirePrivateNetworking"] is False
    # The private grant stays while Atlas may still require the private path (until this update ran).
    settled = apply(config(stack), stack, left)
    holds(transition(left, settled))
    assert not [r for r in settled.registrations if "private" in r.name or r.type == ENDPOINT]


def test_an_encrypted_project_cannot_jump_from_public_to_private_and_is_told_the_two_steps() -> None:
    public = apply(config("same-account"), "same-account")
    with pytest.raises(Exception, match=r"atlas-kms:network: Atlas uses the key .* over the public path today.*network both"):
        apply(config("same-account", network="private"), "same-account", public)


def test_a_project_not_yet_encrypted_may_start_private() -> None:
    private = apply(config("same-account", network="private"), "same-account")
    assert private.outputs["privateEndpoints"] == [
        {"regionName": "EU_WEST_2", "status": "ACTIVE", "errorMessage": "",
         "privateEndpointConnectionName": private.outputs["privateEndpoints"][0]["privateEndpointConnectionName"]}]


def test_removing_the_private_grant_while_atlas_uses_its_endpoint_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    both = apply(config("same-account", network="both"), "same-account", apply(config("same-account"), "same-account"))
    import core.plan

    real = core.plan.private_path

    def keep_requiring_but_drop_the_grant(*args: Any) -> Any:
        _, notes = real(*args)  # the real checks still run
        return core.plan.PrivatePath(require=True, grant=False), notes

    monkeypatch.setattr(core.plan, "private_path", keep_requiring_but_drop_the_grant)
    broken = apply(config("same-account", network="both"), "same-account", both)
    gaps = transition(both, broken).gaps
    assert gaps and all("through Atlas's VPC endpoint" in g.why for g in gaps)


def test_a_failed_endpoint_fails_the_update_with_atlas_message_and_a_pending_one_warns() -> None:
    world = World.sample()
    world.endpoint_status = {"EU_WEST_2": ("FAILED", "No capacity in EU_WEST_2")}
    with pytest.raises(Exception, match="No capacity in EU_WEST_2"):
        apply(config("same-account", network="private"), "same-account", world=world)
    world = World.sample()
    world.endpoint_status = {"EU_WEST_2": ("PENDING_ACCEPTANCE", "")}
    pending = apply(config("same-account", network="private"), "same-account", world=world)
    assert warns(pending, "private endpoint in EU_WEST_2 is PENDING_ACCEPTANCE, not ACTIVE")


def test_the_private_path_admits_atlas_endpoint_and_nothing_from_the_internet_or_without_network_context() -> None:
    private = apply(config("same-account", network="private"), "same-account")
    key, role = private.outputs["keyArn"], private.outputs["roleArn"]
    from offline.simulator import _identity, _key_policy, _live

    live = _live([], frozenset(), private, private)
    identity, policy = _identity(live, role), _key_policy(live, key, aws_default_key_policy)
    vpce = private.outputs["privateEndpoints"][0]["privateEndpointConnectionName"]
    for action in USE:
        assert effective_allowed(identity, policy, role_arn=role, key_arn=key, action=action, vpce=vpce) == Ranges.all()
        assert effective_allowed(identity, policy, role_arn=role, key_arn=key, action=action).is_empty()


def test_endpoint_ids_pin_the_private_path_to_those_endpoints() -> None:
    pinned = apply(config("existing-key", network="private", privateEndpointIds=["vpce-0a1b2c3d4e5f67890"]), "existing-key")
    key, role = pinned.outputs["keyArn"], pinned.outputs["roleArn"]
    from offline.simulator import _identity, _live

    identity = _identity(_live([], frozenset(), pinned, pinned), role)
    policy = aws_default_key_policy(key)
    allowed = [effective_allowed(identity, policy, role_arn=role, key_arn=key, action="kms:Decrypt", vpce=v).is_empty()
               for v in ("vpce-0a1b2c3d4e5f67890", "vpce-0000000000000000f")]
    assert allowed == [False, True]


def test_a_foreign_keys_owner_gets_both_paths_statements_and_the_move_is_gap_free() -> None:
    granted = {"keyAccount": {"keyPolicyGranted": True}}
    public = apply(config("foreign-key", **granted), "foreign-key")
    both = apply(config("foreign-key", network="both", **granted), "foreign-key", public)
    sids = [s["Sid"] for s in both.outputs["keyPolicyStatementsForOwner"]]
    assert sids == ["AtlasRoleUsesKey", "AtlasRoleUsesKeyPrivately"]
    assert both.outputs["keyPolicyStatementForOwner"] == both.outputs["keyPolicyStatementsForOwner"][0]

    def owner_policy(key: str) -> dict[str, Any]:
        doc = aws_default_key_policy(key)
        doc["Statement"] += both.outputs["keyPolicyStatementsForOwner"]
        return doc

    holds(transition(public, both, external_key_policy=owner_policy))
    private = apply(config("foreign-key", network="private", **granted), "foreign-key", both)
    assert [s["Sid"] for s in private.outputs["keyPolicyStatementsForOwner"]] == ["AtlasRoleUsesKeyPrivately"]
    holds(transition(both, private, external_key_policy=owner_policy))


def test_private_is_refused_until_every_endpoint_is_active() -> None:
    public = apply(config("same-account"), "same-account")
    world = World.sample()
    world.endpoint_status = {"EU_WEST_2": ("PENDING_ACCEPTANCE", "")}
    both = apply(config("same-account", network="both"), "same-account", public, world=world)
    world = World.sample()
    world.endpoint_status = {"EU_WEST_2": ("PENDING_ACCEPTANCE", "")}
    with pytest.raises(Exception, match=r"atlas-kms:network: private would drop the public path.*not ACTIVE in EU_WEST_2"):
        apply(config("same-account", network="private"), "same-account", both, world=world)


def test_moving_from_a_created_key_to_a_key_in_another_region_keeps_the_created_key_where_it_is() -> None:
    first = apply(config("same-account"), "same-account")
    other_region = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    moving = apply(config("same-account", keyArn=other_region), "same-account", first)  # no replacement refused
    holds(transition(first, moving))
    [key] = moving.of_type(KEY)
    assert key.inputs["region"] == "eu-west-2"
    assert moving.outputs["keyArn"] == other_region


@pytest.mark.parametrize("stack", ["same-account", "existing-key"])
def test_a_new_setup_changes_the_trust_policy_in_place_and_atlas_keeps_its_key(stack: str) -> None:
    setup = ("mongodbatlas:index/cloudProviderAccessSetup:CloudProviderAccessSetup", "atlas-kms-access-setup")
    first = apply(config(stack), stack)
    renewed = apply(config(stack), stack, first, replace=[setup])
    t = transition(first, renewed, replace=[setup])
    holds(t)
    changed = {s.key[1]: s for s in t.steps if s.kind != "delete-replaced"}
    assert changed["atlas-kms-role"].kind == "update" and changed["atlas-kms-role"].changed == ("assumeRolePolicy",)
    assert changed["atlas-kms-role-propagation"].kind == "replace"  # the wait is armed again


def test_a_public_stack_never_asks_for_private_endpoints() -> None:
    token = "mongodbatlas:index/getEncryptionAtRestPrivateEndpoints:getEncryptionAtRestPrivateEndpoints"
    public = apply(config("same-account"), "same-account", apply(config("same-account"), "same-account"))
    assert token not in [t for t, _ in public.calls]
    both = apply(config("same-account", network="both"), "same-account", public)
    assert token in [t for t, _ in both.calls]
