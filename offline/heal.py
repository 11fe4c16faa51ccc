"""The heal loop, offline: what `pulumi up` leaves, made real in the drift command's stand-ins, and the
targeted update the guard lets through, applied in the update simulator.

Shared by `make heal-demo` (offline/heal_demo.py) and tests/test_heal_loop.py:

- `heal_standins()`: moto's IAM and KMS server and the Atlas Admin API stand-in (standins/servers.py),
  answering for the account the offline model deploys into (ROLE_ACCOUNT), so that the ARNs the program
  wrote are the ARNs moto gives;
- `materialise(run, cloud)`: the cloud made to hold what a run's state says, as the providers would write it
  (the role, each managed policy as a new default version when its document changed, the attachments and
  inline policies the exclusive resources keep, the keys with their key policies and aliases; Atlas using
  the role and the key the state names). KMS chooses a new key's id: the state is returned with it;
- `heal_update(before, ...)`: the update `pulumi up --target ...` runs, in the simulator: the program run
  against the stored state, only the targeted steps, every state on the way judged (`transition`).
"""

from __future__ import annotations

import copy
import json
import os
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import boto3

from offline.harness import ROLE_ACCOUNT, ProgramRun, World, run_program
from offline.model import ALIAS, ATTACH, AUTH, EAR, INLINE, KEY, KEY_POLICY, POLICY, ROLE, reveal
from offline.simulator import Transition, applied, transition
from standins.atlas import AtlasState, atlas_uses
from standins.servers import drift_standins

# IAM keeps at most five versions of a managed policy; the provider deletes the oldest non-default one
# before it writes a sixth (terraform-provider-aws internal/service/iam/policy.go, policyPruneVersions), then
# creates the new version and makes it the default (resourcePolicyUpdate).
POLICY_VERSIONS = 5


@dataclass
class Cloud:
    """The stand-ins, and what `materialise` wrote into them."""

    iam: Any
    atlas: AtlasState
    env: dict[str, str]
    region: str = "eu-west-2"
    keys: dict[str, str] = field(default_factory=dict)  # the offline model's key id -> the id KMS gave
    policies: set[str] = field(default_factory=set)  # ARNs of the managed policies written

    def kms(self, region: str | None = None) -> Any:
        return boto3.client("kms", region_name=region or self.region)


@contextmanager
def heal_standins() -> Iterator[Cloud]:
    """The drift command's stand-ins on 127.0.0.1, moto answering for the offline model's account; their
    environment (AWS_ENDPOINT_URL, the Atlas base URL and keys) set in os.environ meanwhile."""
    saved = os.environ.get("MOTO_ACCOUNT_ID")
    os.environ["MOTO_ACCOUNT_ID"] = ROLE_ACCOUNT  # moto reads it on every request
    try:
        with drift_standins() as (atlas, env):
            # moto keeps its accounts in the process: start from an empty one.
            reset = urllib.request.Request(f"{env['AWS_ENDPOINT_URL']}/moto-api/reset", method="POST")
            urllib.request.urlopen(reset, timeout=10).close()
            yield Cloud(iam=boto3.client("iam", region_name="eu-west-2"), atlas=atlas, env=env)
    finally:
        if saved is None:
            os.environ.pop("MOTO_ACCOUNT_ID", None)
        else:
            os.environ["MOTO_ACCOUNT_ID"] = saved


def _values(registration: Any) -> dict[str, Any]:
    """A resource as it exists: its stored outputs, with the inputs it was written with."""
    return dict(reveal({**registration.state, **registration.inputs}))


def _swap(value: Any, ids: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for old, new in ids.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {k: _swap(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap(v, ids) for v in value]
    return value


def with_ids(run: ProgramRun, ids: Mapping[str, str]) -> ProgramRun:
    """The run's state with the ids the cloud gave instead of the offline model's."""
    if not ids:
        return run
    return replace(run, outputs=_swap(run.outputs, ids), registrations=[
        replace(r, id=_swap(r.id, ids), inputs=_swap(r.inputs, ids), state=_swap(r.state, ids)) for r in run.registrations])


def _tags(tags: Mapping[str, Any] | None, key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: str(k), value: str(v)} for k, v in sorted((tags or {}).items())]


def _keys(run: ProgramRun, cloud: Cloud) -> ProgramRun:
    """Every created key in KMS (its policy, description, tags) and its aliases; the state with KMS's ids."""
    for r in run.of_type(KEY):
        v = _values(r)
        if v["keyId"] in cloud.keys or v["keyId"] in cloud.keys.values():
            continue
        meta = cloud.kms(v.get("region")).create_key(
            Policy=v["policy"], Description=v.get("description", ""), KeyUsage=v.get("keyUsage", "ENCRYPT_DECRYPT"),
            Tags=_tags(v.get("tags"), "TagKey", "TagValue"))["KeyMetadata"]
        cloud.keys[v["keyId"]] = meta["KeyId"]
    run = with_ids(run, cloud.keys)
    for r in run.of_type(ALIAS):
        v = _values(r)
        kms = cloud.kms(v.get("region"))
        if not any(a["AliasName"] == v["name"] for a in kms.list_aliases()["Aliases"]):
            kms.create_alias(AliasName=v["name"], TargetKeyId=v["targetKeyId"])
    return run


def _role(run: ProgramRun, cloud: Cloud) -> str:
    [role] = [_values(r) for r in run.of_type(ROLE)]
    try:
        found = cloud.iam.get_role(RoleName=role["name"])["Role"]
    except cloud.iam.exceptions.NoSuchEntityException:
        found = cloud.iam.create_role(RoleName=role["name"], Path=role.get("path") or "/",
                                      AssumeRolePolicyDocument=role["assumeRolePolicy"],
                                      Description=role.get("description", ""), Tags=_tags(role.get("tags")))["Role"]
    else:
        if json.loads(role["assumeRolePolicy"]) != found["AssumeRolePolicyDocument"]:
            cloud.iam.update_assume_role_policy(RoleName=role["name"], PolicyDocument=role["assumeRolePolicy"])
    if found["Arn"] != role["arn"]:
        raise AssertionError(f"moto made {found['Arn']}, the state says {role['arn']}: not the model's account")
    return str(role["name"])


def _policy_version(cloud: Cloud, arn: str, document: str) -> None:
    """A changed managed policy, as the provider updates it: a new default version, the oldest pruned."""
    policy = cloud.iam.get_policy(PolicyArn=arn)["Policy"]
    current = cloud.iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    if current["Document"] == json.loads(document):
        return
    versions = cloud.iam.list_policy_versions(PolicyArn=arn)["Versions"]
    if len(versions) >= POLICY_VERSIONS:
        oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
        cloud.iam.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])
    # Written, then made the default in a second call, as the provider does.
    version = cloud.iam.create_policy_version(PolicyArn=arn, PolicyDocument=document, SetAsDefault=False)
    cloud.iam.set_default_policy_version(PolicyArn=arn, VersionId=version["PolicyVersion"]["VersionId"])


def _managed(run: ProgramRun, cloud: Cloud, role: str) -> None:
    """The managed parts, attached as the exclusive attachments keep them; parts the state lost, deleted."""
    wanted: set[str] = set()
    for r in run.of_type(POLICY):
        v = _values(r)
        wanted.add(v["arn"])
        if v["arn"] in cloud.policies:
            _policy_version(cloud, v["arn"], v["policy"])
            continue
        made = cloud.iam.create_policy(PolicyName=v["name"], Path=v.get("path") or "/", PolicyDocument=v["policy"],
                                       Description=v.get("description", ""), Tags=_tags(v.get("tags")))["Policy"]
        if made["Arn"] != v["arn"]:
            raise AssertionError(f"moto made {made['Arn']}, the state says {v['arn']}")
        cloud.policies.add(v["arn"])
    attach = {_values(a)["policyArn"] for a in run.of_type(ATTACH) if _values(a)["role"] == role}
    attached = {p["PolicyArn"] for p in cloud.iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]}
    for arn in sorted(attached - attach):
        cloud.iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    for arn in sorted(attach - attached):
        cloud.iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    for arn in sorted(cloud.policies - wanted):
        for version in cloud.iam.list_policy_versions(PolicyArn=arn)["Versions"]:
            if not version["IsDefaultVersion"]:
                cloud.iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
        cloud.iam.delete_policy(PolicyArn=arn)
        cloud.policies.discard(arn)


def _inline(run: ProgramRun, cloud: Cloud, role: str) -> None:
    """The inline policies, only the state's on the role (as the exclusive inline policies keep them)."""
    wanted = {v["name"]: v["policy"] for v in map(_values, run.of_type(INLINE)) if v["role"] == role}
    for name in cloud.iam.list_role_policies(RoleName=role)["PolicyNames"]:
        if name not in wanted:
            cloud.iam.delete_role_policy(RoleName=role, PolicyName=name)
    for name, document in sorted(wanted.items()):
        cloud.iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=document)


def _key_policies(run: ProgramRun, cloud: Cloud) -> None:
    for v in [*map(_values, run.of_type(KEY)), *map(_values, run.of_type(KEY_POLICY))]:
        kms = cloud.kms(v.get("region"))
        current = kms.get_key_policy(KeyId=v["keyId"], PolicyName="default")["Policy"]
        if json.loads(current) != json.loads(v["policy"]):
            kms.put_key_policy(KeyId=v["keyId"], PolicyName="default", Policy=v["policy"])


def _atlas(run: ProgramRun, cloud: Cloud) -> None:
    """Atlas uses the role the authorization names and the key encryption at rest names."""
    for v in map(_values, run.of_type(AUTH)):
        cloud.atlas.encryption_role = (v.get("aws") or {}).get("iamAssumedRoleArn")
    for v in map(_values, run.of_type(EAR)):
        kms = v.get("awsKmsConfig") or {}
        atlas_uses(cloud.atlas, str(kms.get("customerMasterKeyId")), enabled=bool(kms.get("enabled")))


def materialise(run: ProgramRun, cloud: Cloud) -> ProgramRun:
    """Make the stand-ins hold what the run's state says, as the providers write it; returns the state with
    the ids KMS gave the keys (save it: the next run starts from it)."""
    run = _keys(run, cloud)
    role = _role(run, cloud)
    _managed(run, cloud, role)
    _inline(run, cloud, role)
    _key_policies(run, cloud)
    _atlas(run, cloud)
    return run


def heal_update(before: ProgramRun, config: Mapping[str, str], stack: str, project: Mapping[str, Any],
                targets: Iterable[str]) -> tuple[Transition, ProgramRun]:
    """`pulumi up --target ...` from the stored state `before`, Atlas answering `project` (its ipAddresses):
    the program run again, only the targeted steps taken, every state on the way judged. Returns the
    transition (its `gaps` must be empty) and the state it leaves."""
    world = World.sample()
    world.project = copy.deepcopy(dict(project))
    world.stored = before.stored_state()
    after = run_program(config, stack=stack, world=world)
    t = transition(before, after, targets=targets)
    return t, applied(t)
