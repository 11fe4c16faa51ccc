"""Run the real program under Pulumi's mock runtime, against bundled Atlas answers.

Used by the offline preview (`make preview`), the tests and the benchmarks. The
mocks answer like the engine does: lookups and resource states use the providers'
camelCase property names, and computed outputs (ARNs, ids) are returned explicitly.
"""

from __future__ import annotations

import json
import runpy
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.settings import SETTINGS, set_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from core.arns import Arn, partition_of
from offline.model import (
    ALIAS,
    ATLAS_PRINCIPALS,
    AUTH,
    EAR,
    ENDPOINT,
    KEY,
    ROLE,
    SETUP,
    ProviderError,
    ProviderModel,
    Seen,
    alias_not_found_error,
    changes,
    reveal,
)
from standins.atlas import PRIVATE, PUBLIC, AtlasState, running_atlas
from standins.servers import environment

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"

ROLE_ACCOUNT = "111122223333"
# Atlas's own AWS account, the principal of every trust policy commercial Atlas asks for.
ATLAS_AWS_ACCOUNT_ARN = ATLAS_PRINCIPALS[False]

PROVIDER_TYPES = {"pulumi:providers:aws"}
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


def engine_urn(urn: str) -> str:
    """A URN as the engine writes it. The mock runtime puts the stack's type in the type chain of a resource
    whose parent is the stack (`...::pulumi:pulumi:Stack$atlas-kms:index:AtlasKmsEncryption::atlas-kms`);
    the engine leaves the root stack out (pulumi/pulumi step_generator: no parent type for the root stack).
    A provider reference (`urn::id`) keeps its id."""
    head, sep, rest = urn.partition(f"::{ROOT_STACK_TYPE}$")
    return f"{head}::{rest}" if sep and head.startswith("urn:pulumi:") and head.count("::") == 1 else urn


def _api_cluster_to_engine(cluster: Mapping[str, Any]) -> dict[str, Any]:
    """Atlas API field names -> the mongodbatlas provider's engine names."""
    return {
        "clusterName": cluster["clusterName"],
        "inbounds": list(cluster.get("inbound", [])),
        "outbounds": list(cluster.get("outbound", [])),
        "futureInbounds": list(cluster.get("futureInbound", [])),
        "futureOutbounds": list(cluster.get("futureOutbound", [])),
    }


@dataclass
class World:
    """What Atlas and AWS answer: the Atlas API's own JSON shapes, plus the caller."""

    control_plane: dict[str, Any]
    project: dict[str, Any]
    account: str = ROLE_ACCOUNT
    partition: str = "aws"
    # The default AWS provider's region (`aws:region`); None: taken from the stack config.
    region: str | None = None
    # Atlas for Government answers (its principal is in aws-us-gov).
    atlas_gov: bool = False
    # Atlas's own verdict on the key, `aws_kms_config.valid`.
    key_valid: bool = True
    # The state a previous run left, by (type, name): see ProgramRun.stored_state.
    stored: dict[tuple[str, str], tuple[str, dict[str, Any]]] = field(default_factory=dict)
    # What Atlas holds for the project (`get_encryption_at_rest`), in the provider's engine names;
    # None: what the stored state's EncryptionAtRest left, or a project never configured.
    atlas_encryption: dict[str, Any] | None = None
    # Atlas's status for a KMS private endpoint, by Atlas region: (status, errorMessage).
    endpoint_status: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Resources `pulumi up --replace` names: created anew although their inputs did not change.
    replace: frozenset[tuple[str, str]] = frozenset()
    # Atlas's cloud provider access roles (GET .../cloudProviderAccess, the API's JSON); None: the roles the
    # stored state's setups and authorizations made, and which of them encryption at rest uses.
    atlas_access: dict[str, Any] | None = None
    # What exists outside the stack's state (set up by hand or by Terraform), by (type, a name of its own):
    # the lookups see it, `import_` reads it, the engine never deletes it.
    unmanaged: dict[tuple[str, str], tuple[str, dict[str, Any]]] = field(default_factory=dict)

    def _of(self, typ: str) -> list[tuple[str, dict[str, Any]]]:
        """(id, plain state) of every existing object of one type, the stack's own first."""
        own = [(i, reveal(st)) for (t, _), (i, st) in sorted(self.stored.items()) if t == typ]
        return own + [(i, reveal(st)) for (t, _), (i, st) in sorted(self.unmanaged.items()) if t == typ]

    @classmethod
    def sample(cls) -> World:
        return cls(
            control_plane=json.loads((SAMPLES / "atlas" / "control-plane-ip-addresses.json").read_text()),
            project=json.loads((SAMPLES / "atlas" / "project-ip-addresses.json").read_text()),
        )

    def control_plane_answer(self) -> dict[str, Any]:
        def strip(section: Mapping[str, Any] | None) -> dict[str, Any]:
            section = section or {}
            return {cloud: dict(section.get(cloud, {})) for cloud in ("aws", "azure", "gcp")}

        return {"inbound": strip(self.control_plane.get("inbound")), "outbound": strip(self.control_plane.get("outbound"))}

    def encryption_answer(self, project_id: str) -> dict[str, Any]:
        """Atlas's current encryption-at-rest settings, as the data source returns them.

        Atlas answers what was last applied: the stored EncryptionAtRest, with Atlas's own `valid`.
        A project never configured answers every field empty (terraform-provider-mongodbatlas
        internal/service/encryptionatrest/data_source.go reads the same GET as the resource).
        """
        if self.atlas_encryption is not None:
            kms = dict(self.atlas_encryption.get("awsKmsConfig") or {})
            search = self.atlas_encryption.get("enabledForSearchNodes")
        else:
            plain = next((st for _, st in self._of(EAR)), {})
            kms = dict(plain.get("awsKmsConfig") or {})
            search = plain.get("enabledForSearchNodes", False)
        empty = {"enabled": False, "customerMasterKeyId": "", "region": "", "roleId": "", "valid": False,
                 "requirePrivateNetworking": False, "accessKeyId": "", "secretAccessKey": ""}
        return {"projectId": project_id, "id": project_id, "awsKmsConfig": {**empty, **kms},
                "enabledForSearchNodes": bool(search), "azureKeyVaultConfig": None, "googleCloudKmsConfig": None}

    def endpoints_answer(self, project_id: str) -> dict[str, Any]:
        """The KMS private endpoints Atlas has: those the stored state holds, with Atlas's status now."""
        results = []
        for (typ, _), (id_, state) in sorted(self.stored.items()):
            plain = reveal(state)
            if typ == ENDPOINT:
                region = plain.get("regionName", "")
                status, error = self.endpoint_status.get(region, (plain.get("status", "ACTIVE"), plain.get("errorMessage", "")))
                results.append({"cloudProvider": "AWS", "errorMessage": error, "id": id_, "projectId": project_id,
                                "privateEndpointConnectionName": plain.get("privateEndpointConnectionName", ""),
                                "regionName": region, "status": status})
        return {"cloudProvider": "AWS", "projectId": project_id, "results": results}

    def alias_answer(self, name: str, region: str | None) -> dict[str, Any]:
        """An alias the stored state holds, pointing at its stored key; else the provider's not-found error."""
        keys = {reveal(state).get("keyId"): reveal(state).get("arn") for (typ, _), (_, state) in self.stored.items() if typ == KEY}
        for (typ, _), (_, state) in self.stored.items():
            plain = reveal(state)
            if typ == ALIAS and plain.get("name") == name and plain.get("targetKeyId") in keys:
                arn = keys[plain["targetKeyId"]]
                return {"arn": str(replace(Arn.parse(arn), resource=name)), "id": name, "name": name, "region": region or "",
                        "targetKeyArn": arn, "targetKeyId": plain["targetKeyId"]}
        raise alias_not_found_error(name)

    def access_answer(self, project_id: str) -> dict[str, Any]:
        """Atlas's cloud provider access roles: each stored setup's role, authorized with the ARN its stored
        authorization names, used for encryption at rest when the project's key is configured with it."""
        if self.atlas_access is not None:
            return self.atlas_access
        authorized = {str(st.get("roleId")): str((st.get("aws") or {}).get("iamAssumedRoleArn") or "")
                      for _, st in self._of(AUTH)}
        kms = (self.encryption_answer(project_id).get("awsKmsConfig") or {})
        in_use = str(kms.get("roleId") or "") if kms.get("enabled") else ""
        roles = []
        for _, st in self._of(SETUP):
            role_id = str(st.get("roleId") or "")
            config = (st.get("awsConfigs") or [{}])[0]
            role: dict[str, Any] = {
                "providerName": "AWS", "roleId": role_id, "atlasAWSAccountArn": config.get("atlasAwsAccountArn", ""),
                "atlasAssumedRoleExternalId": config.get("atlasAssumedRoleExternalId", ""),
                "createdDate": "2026-11-28T00:00:00Z",
                # The spec: featureId "always returns a null value" for this feature.
                "featureUsages": [{"featureType": "ENCRYPTION_AT_REST", "featureId": None}] if role_id == in_use else []}
            if authorized.get(role_id):
                role |= {"iamAssumedRoleArn": authorized[role_id], "authorizedDate": "2026-11-28T00:00:00Z"}
            roles.append(role)
        return {"awsIamRoles": roles, "azureServicePrincipals": [], "gcpServiceAccounts": []}

    def setup_answer(self, project_id: str, role_id: str) -> dict[str, Any]:
        """get_cloud_provider_access_setup: one Atlas role by its id, with Atlas's principal and external id."""
        for _, st in self._of(SETUP):
            if str(st.get("roleId")) == role_id:
                return {"projectId": project_id, "providerName": "AWS", "roleId": role_id, "id": role_id,
                        "awsConfigs": st.get("awsConfigs") or [], "azureConfigs": [], "gcpConfigs": [],
                        "createdDate": "2026-11-28T00:00:00Z"}
        raise ProviderError(f"error getting cloud provider access setup {role_id}: 404 (Not Found) "
                            "CLOUD_PROVIDER_ACCESS_ROLE_NOT_FOUND")

    def role_answer(self, name: str) -> dict[str, Any]:
        for _, plain in self._of(ROLE):
            if plain.get("name") == name:
                return {"arn": plain["arn"], "name": name, "id": name, "tags": plain.get("tags") or {},
                        "uniqueId": plain.get("uniqueId", ""), "assumeRolePolicy": plain.get("assumeRolePolicy", ""),
                        "path": plain.get("path") or "/", "description": plain.get("description", ""), "maxSessionDuration": 3600,
                        "createDate": "2026-11-28T00:00:00Z", "permissionsBoundary": "", "roleLastUseds": []}
        raise ProviderError(f"reading IAM Role ({name}): couldn't find resource")

    def project_answer(self, project_id: str) -> dict[str, Any]:
        clusters = (self.project.get("services") or {}).get("clusters") or []
        return {"projectId": project_id, "services": {"clusters": [_api_cluster_to_engine(c) for c in clusters]}}


@dataclass
class Registration:
    """One resource as the engine saw it: options included, which MockResourceArgs omits."""

    type: str
    name: str
    urn: str
    id: str
    parent: str
    provider: str
    protect: bool
    retain_on_delete: bool
    dependencies: list[str]
    inputs: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)
    replace_on_changes: list[str] = field(default_factory=list)
    # The id `import_` named: the engine reads this existing object instead of creating one.
    import_id: str = ""
    # Made outside the stack (a start state the program did not make): never deleted by the engine.
    unmanaged: bool = False
    # Replaced by a new resource of the same URN, and marked in the state for deletion by an update that
    # stopped before its deletes (pulumi/pulumi CreateStep.Apply): the next update deletes it at its end.
    pending_delete: bool = False


class AtlasKmsMocks(pulumi.runtime.Mocks):
    """The engine's side of the mock runtime: lookups from the World, resources from the ProviderModel."""

    def __init__(self, world: World, preview: bool = False) -> None:
        self.world = world
        # In a preview the engine knows no id of a resource it has yet to create.
        self.preview = preview
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.model = ProviderModel(partition=world.partition, atlas_gov=world.atlas_gov, key_valid=world.key_valid,
                                   stored=world.stored, replace=world.replace, endpoint_status=world.endpoint_status,
                                   unmanaged=world.unmanaged)
        # Set by the monitor just before each registration: the engine's view of its dependencies, and
        # the options MockResourceArgs does not carry (import_, replaceOnChanges).
        self.pending_dependencies: list[str] = []
        self.pending_import = ""
        self.pending_replace_on_changes: list[str] = []
        self.by_urn: dict[str, Seen] = {}

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        self.calls.append((args.token, dict(args.args)))
        if args.token == "mongodbatlas:index/getControlPlaneIpAddresses:getControlPlaneIpAddresses":
            return self.world.control_plane_answer()
        if args.token == "mongodbatlas:index/getProjectIpAddresses:getProjectIpAddresses":
            return self.world.project_answer(args.args["projectId"])
        if args.token == "mongodbatlas:index/getEncryptionAtRest:getEncryptionAtRest":
            return self.world.encryption_answer(args.args["projectId"])
        if args.token == "mongodbatlas:index/getEncryptionAtRestPrivateEndpoints:getEncryptionAtRestPrivateEndpoints":
            return self.world.endpoints_answer(args.args["projectId"])
        if args.token == "aws:kms/getAlias:getAlias":
            try:
                return self.world.alias_answer(args.args["name"], args.args.get("region"))
            except ProviderError as exc:
                # The engine hands a provider's error back as an invoke failure, which the SDK raises.
                return {}, [("", str(exc))]  # type: ignore[return-value]
        if args.token == "aws:iam/getRole:getRole":
            try:
                return self.world.role_answer(args.args["name"])
            except ProviderError as exc:
                return {}, [("", str(exc))]  # type: ignore[return-value]
        if args.token == "mongodbatlas:index/getCloudProviderAccessSetup:getCloudProviderAccessSetup":
            try:
                return self.world.setup_answer(args.args["projectId"], args.args["roleId"])
            except ProviderError as exc:
                return {}, [("", str(exc))]  # type: ignore[return-value]
        if args.token == "aws:index/getRegion:getRegion":
            # The default AWS provider's region: `aws:region` of the stack.
            return {"region": self.world.region, "name": self.world.region, "id": self.world.region,
                    "endpoint": f"ec2.{self.world.region}.amazonaws.com", "description": ""}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            w = self.world
            return {
                "accountId": w.account,
                "arn": f"arn:{w.partition}:sts::{w.account}:assumed-role/platform-deployer/ci",
                "userId": "AROAEXAMPLEID:ci",
                "id": w.account,
            }
        raise NotImplementedError(f"no mock for invoke {args.token}")

    def _account_for(self, provider_ref: str) -> str:
        """Provider references are `<urn>::<id>`; the URN ends with the provider's name."""
        name = provider_ref.rsplit("::", 1)[0].split("::")[-1] if provider_ref else ""
        return self.model.provider_accounts.get(name, self.world.account)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        id_, state = self.model.create(args.typ, args.name, dict(args.inputs), self._account_for(args.provider or ""),
                                       self.pending_dependencies, self.by_urn.get, import_id=self.pending_import,
                                       replace_on_changes=self.pending_replace_on_changes)
        # An import reads the existing object even in a preview (`= import`); a create's ids are unknown.
        if self.preview and (args.typ, args.name) not in self.world.stored and not self.pending_import:
            return "", dict(args.inputs)
        return id_, state


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Keeps each registration's options (parent, provider, protect, dependencies)."""

    def __init__(self, mocks: AtlasKmsMocks, sink: list[Registration] | None = None) -> None:
        super().__init__(mocks)
        # A caller-owned list, so that registrations stay visible when the program raises.
        self.registrations: list[Registration] = sink if sink is not None else []
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the engine's RPC name)
        mocks = self.mocks
        assert isinstance(mocks, AtlasKmsMocks)
        # The SDK registers from several threads at once; one registration at a time keeps the
        # dependencies handed to the model paired with their resource.
        with self._lock:
            mocks.pending_dependencies = list(request.dependencies)
            mocks.pending_import = str(request.importId or "")
            mocks.pending_replace_on_changes = list(request.replaceOnChanges)
            response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
            seen = next((s for s in reversed(mocks.model.seen) if s.name == request.name and s.type == request.type), None)
            if seen is not None and not seen.urn:
                seen.urn = response.urn
                mocks.by_urn[response.urn] = seen
        if request.type != "pulumi:pulumi:Stack":
            from pulumi.runtime import rpc

            inputs = rpc.deserialize_properties(request.object)
            state = self.resources.get(response.urn)
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    id=response.id,
                    parent=request.parent,
                    provider=request.provider,
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    dependencies=list(request.dependencies),
                    inputs=dict(inputs),
                    state=dict(state.state) if state else {},
                    replace_on_changes=list(request.replaceOnChanges),
                    import_id=str(request.importId or ""),
                )
            )
        return response


@dataclass
class ProgramRun:
    outputs: dict[str, Any]
    registrations: list[Registration]
    calls: list[tuple[str, dict[str, Any]]]
    logs: list[str]
    # Stack outputs the engine would show as [secret].
    secret_outputs: set[str] = field(default_factory=set)
    # Ids and ARNs the providers' model made up: placeholders, not real values.
    placeholders: set[str] = field(default_factory=set)
    # How the run was made, so that the same program can run again from another state (the simulator's
    # interrupted updates): the stack config, the stack, and the world it answered from.
    config: dict[str, str] = field(default_factory=dict)
    stack: str = "dev"
    world: World | None = None

    def stored_state(self) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
        """The state this run leaves, as the providers store it: a second run starts from it."""
        return {(r.type, r.name): (r.id, dict(r.state)) for r in self.registrations
                if not r.unmanaged and not r.pending_delete}

    def rerun(self, stored: dict[tuple[str, str], tuple[str, dict[str, Any]]],
              unmanaged: dict[tuple[str, str], tuple[str, dict[str, Any]]], *, atlas_moved: bool,
              replace_again: frozenset[tuple[str, str]] = frozenset()) -> ProgramRun:
        """The same program and stack config, run again against another state, Atlas answering from it
        (what a test set Atlas to answer by hand holds until the state's own EncryptionAtRest changed it)."""
        base = self.world or World.sample()
        world = replace(base, stored=stored, unmanaged=unmanaged, replace=replace_again,
                        atlas_access=None if atlas_moved else base.atlas_access,
                        atlas_encryption=None if atlas_moved else base.atlas_encryption)
        return run_program(self.config, stack=self.stack, world=world)

    def changes_against(self, previous: ProgramRun) -> list[str]:
        """What `pulumi preview` would report after `previous` was applied; [] when nothing changes."""
        return changes(previous.stored_state(), [(r.type, r.name, r.inputs) for r in self.registrations])

    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == typ]

    def one(self, typ: str) -> Registration:
        found = self.of_type(typ)
        if len(found) != 1:
            raise AssertionError(f"expected one {typ}, found {len(found)}")
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.registrations if r.urn == urn)


class _LogCapture:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def capture(self, level: str) -> Any:
        def log(msg: str, *args: Any, **kwargs: Any) -> None:
            self.lines.append(f"{level}: {msg}")

        return log


_ATLAS: list[tuple[AtlasState, dict[str, str]]] = []
# The running stand-in's context, kept alive for the life of the process.
_ATLAS_CONTEXT: list[Any] = []


def _atlas_standin() -> tuple[AtlasState, dict[str, str]]:
    """The Atlas Admin API stand-in on 127.0.0.1 that answers what no data source reads (the project's cloud
    provider access roles), with the credentials the mongodbatlas provider would take from its environment.
    One per process, started on first use: every run swaps in its own world's answers."""
    if not _ATLAS:
        state = AtlasState()
        context = running_atlas(state)
        _ATLAS_CONTEXT.append(context)
        url = context.__enter__()
        _ATLAS.append((state, {"MONGODB_ATLAS_BASE_URL": url, "MONGODB_ATLAS_PUBLIC_KEY": PUBLIC,
                               "MONGODB_ATLAS_PRIVATE_KEY": PRIVATE}))
    return _ATLAS[0]


def atlas_requests() -> list[tuple[str, str, str]]:
    """Every request the program's runs in this process made to the Atlas Admin API itself (path, media type,
    authorization scheme); the data sources' lookups are in each run's `calls`."""
    return _atlas_standin()[0].requests


@contextmanager
def atlas_api_answers(world: World) -> Iterator[None]:
    """While inside, the Atlas Admin API (with the credentials the provider would read from its environment)
    answers from `world`, as the engine's mocks answer the data sources."""
    atlas, env = _atlas_standin()
    atlas.access_for = world.access_answer
    with environment(env):
        yield


def _world_for(config: Mapping[str, str], world: World | None) -> World:
    if world is None:
        # The sample world answers as the stack's own providers would: the credentials' partition
        # follows aws:region, and the Atlas behind mongodbatlas:isMongodbgovCloud is Atlas for Government.
        world = World.sample()
        world.partition = partition_of(str(config.get("aws:region") or "us-east-1"))
        world.atlas_gov = str(config.get("mongodbatlas:isMongodbgovCloud", "false")).lower() == "true"
    if world.region is None:
        world.region = config.get("aws:region")
    return world


def _quiet_provider_errors() -> None:
    """A provider error fails one registration; the engine reports it once, but the SDK leaves the Outputs
    that depended on it holding the same exception, and asyncio prints each as "never retrieved" when
    they are collected. The caller already got the error: those copies are not shown again."""
    import asyncio

    def quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if not isinstance(context.get("exception"), ProviderError):
            loop.default_exception_handler(context)

    asyncio.get_event_loop().set_exception_handler(quiet)


def run_program(
    config: Mapping[str, str],
    *,
    stack: str = "dev",
    world: World | None = None,
    registrations: list[Registration] | None = None,
    program: Callable[[], None] | None = None,
    preview: bool = False,
) -> ProgramRun:
    """Run `__main__.py` once under the mock runtime; raise what the program raises.

    Pass `registrations` (an empty list) to see what was registered before a failure.
    """
    world = _world_for(config, world)
    mocks = AtlasKmsMocks(world, preview)
    monitor = RecordingMonitor(mocks, registrations)
    # set_mocks keeps an existing root stack, whose outputs would leak into this run.
    set_root_resource(None)  # type: ignore[arg-type]
    pulumi.runtime.set_mocks(mocks, project="atlas-kms", stack=stack, preview=preview, monitor=monitor)
    pulumi.runtime.set_all_config(dict(config))
    capture = _LogCapture()
    original = (pulumi.log.warn, pulumi.log.info)
    pulumi.log.warn, pulumi.log.info = capture.capture("warning"), capture.capture("info")  # type: ignore[method-assign]
    outputs: dict[str, Any] = {}
    secret_outputs: set[str] = set()
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))

    def run() -> Any:
        if program is not None:
            program()  # another way in: the component package's Construct, for one
        else:
            runpy.run_path(str(ROOT / "__main__.py"), run_name="atlas_kms_program")
        stack_outputs = pulumi.runtime.get_root_resource().outputs  # type: ignore[union-attr]

        # Read each output's value and whether the engine would hold it as a secret. Outputs are read
        # as they are: Output.from_input would rebuild a list output element by element (one Output
        # per allowed CIDR), a cost the real engine does not have.
        async def collect() -> None:
            for k, v in stack_outputs.items():
                out = v if isinstance(v, pulumi.Output) else pulumi.Output.from_input(v)
                outputs[k] = await out.future()
                if await out.is_secret():
                    secret_outputs.add(k)

        return collect()

    _quiet_provider_errors()
    try:
        with atlas_api_answers(world):
            SETTINGS.rpc_manager.clear()
            SETTINGS.outputs.clear()
            _sync_await(run_pulumi_func(lambda: _sync_await(pulumi.Output.from_input(run()).future())))
    finally:
        pulumi.log.warn, pulumi.log.info = original  # type: ignore[method-assign]
    return ProgramRun(outputs=outputs, registrations=monitor.registrations, calls=mocks.calls, logs=capture.lines,
                      secret_outputs=secret_outputs, placeholders=set(mocks.model.placeholders), config=dict(config),
                      stack=stack, world=world)
