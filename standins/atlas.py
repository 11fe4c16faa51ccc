"""The Atlas Admin API stand-in (digest auth, versioned media types, every answer validated against the
official schemas in standins/schemas/) and the worlds the drift tests, `make drift-demo` and the
benchmarks build in it and in moto."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema

from core.ips import ClusterAddresses, SourceSelection, build_address_set
from core.policies import plan_policies
from core.settings import PROGRAM, TAG_PROGRAM, TAG_PROJECT, TAG_STACK

DATA = Path(__file__).parent / "schemas"
ROOT = Path(__file__).resolve().parents[1]
PUBLIC, PRIVATE = "atlas-public-key", "atlas-private-key-" + "s3cr3t"
REALM = "MMS Public API"
PROJECT = "6f1e2d3c4b5a697887766554"
# moto's default account is the role's account: this key is in the same account (mode 2).
KEY_ARN = "arn:aws:kms:eu-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SCHEMAS = {
    "control-plane": json.loads((DATA / "control-plane-ip-addresses.schema.json").read_text()),
    "project": json.loads((DATA / "group-ip-addresses.schema.json").read_text()),
    "error": json.loads((DATA / "api-error.schema.json").read_text()),
    "encryption": json.loads((DATA / "encryption-at-rest.schema.json").read_text()),
    "access": json.loads((DATA / "cloud-provider-access.schema.json").read_text()),
    "snapshots": json.loads((DATA / "backup-snapshots.schema.json").read_text()),
    "endpoints": json.loads((DATA / "kms-private-endpoints.schema.json").read_text()),
}
# Each schema checked once (jsonschema.validate checks the schema itself on every call).
VALIDATORS = {kind: jsonschema.validators.validator_for(schema)(schema) for kind, schema in SCHEMAS.items()
              if jsonschema.validators.validator_for(schema).check_schema(schema) is None}
MEDIA = {"control-plane": "application/vnd.atlas.2023-11-15+json", "project": "application/vnd.atlas.2023-01-01+json",
         "encryption": "application/vnd.atlas.2023-01-01+json", "access": "application/vnd.atlas.2023-01-01+json",
         "snapshots": "application/vnd.atlas.2023-01-01+json", "endpoints": "application/vnd.atlas.2023-01-01+json"}


ACCESS = re.compile(r"/api/atlas/v2/groups/(?P<group>[a-f0-9]{24})/cloudProviderAccess")
SNAPSHOTS = re.compile(r"/api/atlas/v2/groups/(?P<group>[a-f0-9]{24})/clusters/(?P<cluster>[^/?]+)/backup/snapshots"
                       r"\?pageNum=(?P<page>\d+)&itemsPerPage=(?P<size>\d+)")


def access_answer(role_arn: str | None) -> dict[str, Any]:
    """listGroupCloudProviderAccess as Atlas answers it once the role is authorized and used for encryption."""
    roles = [] if role_arn is None else [{
        "providerName": "AWS", "roleId": "5e6521b270a1f0bb855c9afe", "iamAssumedRoleArn": role_arn,
        "atlasAWSAccountArn": "arn:aws:iam::536727724300:root",
        "atlasAssumedRoleExternalId": "0f2ffb76-da2d-146a-d947-97789eb7acfc",
        "authorizedDate": "2026-11-28T00:00:00Z", "createdDate": "2026-11-28T00:00:00Z",
        # The spec: featureId "always returns a null value" for this feature.
        "featureUsages": [{"featureType": "ENCRYPTION_AT_REST", "featureId": None}]}]
    return {"awsIamRoles": roles, "azureServicePrincipals": [], "gcpServiceAccounts": []}


def snapshot_page(items: list[dict[str, Any]], page: int, size: int) -> dict[str, Any]:
    if not 1 <= size <= 500:
        raise ValueError("itemsPerPage must be 1 to 500")
    return {"results": items[(page - 1) * size: page * size], "totalCount": len(items), "links": []}


def snapshot(key_id: str | None, *, days_old: int = 1, keep_days: int = 30, id_: str = "") -> dict[str, Any]:
    """A completed snapshot as Atlas lists it, encrypted with the key `key_id` (masterKeyUUID)."""
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC).replace(microsecond=0)
    body: dict[str, Any] = {
        "id": id_ or secrets.token_hex(12), "cloudProvider": "AWS", "createdAt": (now - timedelta(days=days_old)).isoformat().replace("+00:00", "Z"),
        "expiresAt": (now + timedelta(days=keep_days)).isoformat().replace("+00:00", "Z"), "frequencyType": "daily",
        "snapshotType": "scheduled", "status": "completed", "type": "replicaSet", "replicaSetName": "orders",
        "storageSizeBytes": 1024, "mongodVersion": "8.0.4"}
    if key_id is not None:
        body["masterKeyUUID"] = key_id
    return body


def project_of_clusters(count: int) -> dict[str, Any]:
    """An ipAddresses answer with `count` clusters (cluster-0, cluster-1, ...) of three addresses each."""
    clusters = []
    for i in range(count):
        ips = [f"198.51.100.{10 + 3 * i + k}" for k in range(3)]
        clusters.append({"clusterName": f"cluster-{i}", "inbound": ips, "outbound": ips, "futureInbound": [],
                         "futureOutbound": []})
    return {"groupId": PROJECT, "services": {"clusters": clusters}}


def sample_control_plane() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "samples/atlas/control-plane-ip-addresses.json").read_text())
    data.pop("x-source")
    return data


def sample_project() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "samples/atlas/project-ip-addresses.json").read_text())
    return data


@dataclass
class AtlasState:
    control_plane: dict[str, Any] = field(default_factory=sample_control_plane)
    project: dict[str, Any] = field(default_factory=sample_project)
    # GET .../encryptionAtRest: what Atlas holds for the project (set by the tests to the deployed key).
    encryption: dict[str, Any] = field(default_factory=lambda: {"awsKms": {"enabled": False}})
    faults: list[str] = field(default_factory=list)  # consumed one per request: "500", "429", "429:<Retry-After>", "slow", "malformed"
    # The same, for one kind of answer only ("project", "encryption", "access", ...), consumed before `faults`:
    # the command reads concurrently, so only a fault aimed at one endpoint lands on a known request.
    faults_for: dict[str, list[str]] = field(default_factory=dict)
    # Kinds served WITHOUT the schema check: only for tests of answers the spec does not allow.
    off_spec: set[str] = field(default_factory=set)
    # GET .../cloudProviderAccess: the roles Atlas has, and which one it uses for encryption at rest.
    encryption_role: str | None = None
    # GET .../clusters/{name}/backup/snapshots: DiskBackupReplicaSet objects per cluster.
    snapshots: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # GET .../encryptionAtRest/AWS/privateEndpoints: Atlas's KMS private endpoints (EARPrivateEndpoint).
    kms_endpoints: list[dict[str, Any]] = field(default_factory=list)
    latency: float = 0.0
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (path, accept, authorization scheme)
    challenges: int = 0  # 401 digest challenges answered (a request each, not in `requests`)
    # GET .../cloudProviderAccess answered by the offline model for any project (group id -> the answer),
    # instead of `encryption_role`: the program's runs under the mock runtime ask it this way.
    access_for: Callable[[str], dict[str, Any]] | None = None
    # A gate: every answer is held until this many requests are in flight at once, then all are answered
    # and the gate stays open (0: no gate). Waiting longer than `hold_timeout` opens it too, so a client
    # that never gets there is answered (and `max_in_flight` tells).
    hold_until: int = 0
    hold_timeout: float = 15.0
    in_flight: int = 0
    max_in_flight: int = 0  # the most requests the stand-in was answering at once
    _gate: threading.Condition = field(default_factory=threading.Condition, repr=False)

    @contextmanager
    def serving(self) -> Iterator[None]:
        with self._gate:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.in_flight >= self.hold_until:
                self.hold_until = 0
                self._gate.notify_all()
            elif not self._gate.wait_for(lambda: self.hold_until == 0, timeout=self.hold_timeout):
                self.hold_until = 0  # gave up waiting: open for everyone
                self._gate.notify_all()
        try:
            yield
        finally:
            with self._gate:
                self.in_flight -= 1


class AtlasStandIn(BaseHTTPRequestHandler):
    """Enforces RFC 7616 digest auth (MD5, qop=auth) and the versioned media types."""

    state: AtlasState
    nonces: set[str]

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, media: str = "application/json", headers: dict[str, str] | None = None) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, status: int, code: str, headers: dict[str, str] | None = None) -> None:
        body = {"error": status, "errorCode": code, "reason": code.title(), "detail": None}
        VALIDATORS["error"].validate(body)
        self._send(status, body, headers=headers)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Digest "):
            return False
        fields = dict(
            (k.strip(), v.strip().strip('"'))
            for k, v in (part.split("=", 1) for part in header[len("Digest "):].split(",") if "=" in part)
        )
        if fields.get("username") != PUBLIC or fields.get("nonce") not in self.nonces or fields.get("uri") != self.path:
            return False

        def md5(text: str) -> str:
            return hashlib.md5(text.encode()).hexdigest()

        ha1, ha2 = md5(f"{PUBLIC}:{REALM}:{PRIVATE}"), md5(f"GET:{self.path}")
        expected = md5(f"{ha1}:{fields['nonce']}:{fields.get('nc')}:{fields.get('cnonce')}:auth:{ha2}")
        return fields.get("response") == expected and fields.get("qop") == "auth"

    def do_GET(self) -> None:
        st = self.state
        if st.latency:
            time.sleep(st.latency)
        # The spec gives the control-plane list `security: []`: only the project endpoint challenges.
        unauth = self.path == "/api/atlas/v2/unauth/controlPlaneIPAddresses"
        if not unauth and not self._authorized():
            nonce = secrets.token_hex(16)
            with st._gate:
                st.challenges += 1
            self.nonces.add(nonce)
            self._error(401, "UNAUTHORIZED", {"WWW-Authenticate": f'Digest realm="{REALM}", qop="auth", nonce="{nonce}", algorithm=MD5'})
            return
        st.requests.append((self.path, self.headers.get("Accept", ""), "none" if unauth else "Digest"))
        with st.serving():
            self._answer(st)

    def _answer(self, st: AtlasState) -> None:
        if self.path == "/api/atlas/v2/unauth/controlPlaneIPAddresses":
            kind, payload = "control-plane", st.control_plane
        elif self.path == f"/api/atlas/v2/groups/{st.project.get('groupId')}/ipAddresses":
            kind, payload = "project", st.project
        elif self.path == f"/api/atlas/v2/groups/{st.project.get('groupId')}/encryptionAtRest":
            kind, payload = "encryption", st.encryption
        elif (m := ACCESS.fullmatch(self.path)) and st.access_for is not None:
            kind, payload = "access", st.access_for(m["group"])
        elif self.path == f"/api/atlas/v2/groups/{st.project.get('groupId')}/cloudProviderAccess":
            kind, payload = "access", access_answer(st.encryption_role)
        elif self.path == f"/api/atlas/v2/groups/{st.project.get('groupId')}/encryptionAtRest/AWS/privateEndpoints":
            kind, payload = "endpoints", {"results": st.kms_endpoints, "totalCount": len(st.kms_endpoints), "links": []}
        elif (m := SNAPSHOTS.fullmatch(self.path)) and m["group"] == st.project.get("groupId"):
            kind, payload = "snapshots", snapshot_page(st.snapshots.get(unquote(m["cluster"]), []), int(m["page"]),
                                                       int(m["size"]))
        else:
            self._error(404, "RESOURCE_NOT_FOUND")
            return
        if self.headers.get("Accept") != MEDIA[kind]:
            self._error(406, "INVALID_MEDIA_TYPE")
            return
        aimed = st.faults_for.get(kind)
        fault = aimed.pop(0) if aimed else st.faults.pop(0) if st.faults else ""
        if fault in ("500", "429"):
            self._error(int(fault), "UNEXPECTED_ERROR" if fault == "500" else "RATE_LIMITED")
            return
        if fault.startswith("429:"):
            self._error(429, "RATE_LIMITED", {"Retry-After": fault[len("429:"):]})
            return
        if fault == "slow":
            time.sleep(1.5)
        if fault == "malformed":
            self._send(200, b'{"outbound": {"aws": ', MEDIA[kind])
            return
        if kind not in st.off_spec:
            VALIDATORS[kind].validate(payload)  # the stand-in never serves what Atlas could not
        self._send(200, payload, MEDIA[kind])


def expected_documents(kind: str = "managed", project: dict[str, Any] | None = None,
                       control_plane: dict[str, Any] | None = None, key_arn: str = KEY_ARN) -> list[str]:
    """The program's own documents for a world, via the same pure functions."""
    project = project or sample_project()
    control_plane = control_plane or sample_control_plane()
    clusters = [
        ClusterAddresses(c["clusterName"], tuple(c.get("outbound", [])), tuple(c.get("futureOutbound", [])))
        for c in project["services"]["clusters"]
    ]
    addresses = build_address_set(control_plane["outbound"], clusters, SourceSelection())
    return plan_policies(addresses.cidrs, kind=kind, enforce_ip=True, manage_key_policy=False).role_documents(key_arn)  # type: ignore[arg-type]


def create_key(kms: Any, stack: str | None = None, policy: dict[str, Any] | None = None, generation: int = 1) -> str:
    """A real key in moto's KMS; tagged like the program's when `stack` is given (a key it created)."""
    tags = [] if stack is None else [{"TagKey": TAG_PROJECT, "TagValue": PROJECT}, {"TagKey": TAG_STACK, "TagValue": stack},
                                     {"TagKey": TAG_PROGRAM, "TagValue": PROGRAM}]
    extra = {"Policy": json.dumps(policy)} if policy is not None else {}
    meta = kms.create_key(Description="atlas-kms test key", Tags=tags, **extra)["KeyMetadata"]
    if stack is not None:
        # The program names each created key by its alias; the drift command finds it by that name.
        suffix = "" if generation == 1 else f"/gen-{generation}"
        kms.create_alias(AliasName=f"alias/atlas-kms/{PROJECT}/{stack}{suffix}", TargetKeyId=meta["KeyId"])
    return str(meta["Arn"])


def atlas_uses(state: AtlasState, key_arn: str, *, valid: bool = True, enabled: bool = True) -> None:
    """Atlas's encryption-at-rest answer for a project whose key is `key_arn` (GET shape: no writeOnly fields)."""
    state.encryption = {"awsKms": {"enabled": enabled, "customerMasterKeyID": key_arn, "region": "EU_WEST_2",
                                   "requirePrivateNetworking": False, "valid": valid}, "enabledForSearchNodes": True}


def auto_name(name: str) -> str:
    """A name as Pulumi's auto-naming makes it from a resource's name: 7 random hex characters added."""
    return f"{name}-{secrets.token_hex(4)[:7]}"


def deploy_role(iam: Any, stack: str, documents: list[str], *, inline: bool = False, name: str = "") -> str:
    """What `pulumi up` leaves in IAM: the tagged role and its KMS policies, named and tagged as the component
    (components/atlas_kms.py) names and tags them: `atlas-kms-kms-policy-<i>-<7 hex>` with the stack's tags,
    or inline `atlas-kms-kms-inline-<i>-<7 hex>`."""
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::536727724300:root"}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "x"}}}]})
    tags = [{"Key": TAG_PROJECT, "Value": PROJECT}, {"Key": TAG_STACK, "Value": stack}, {"Key": TAG_PROGRAM, "Value": PROGRAM}]
    role = iam.create_role(RoleName=name or f"atlas-kms-role-{stack}", AssumeRolePolicyDocument=trust, Tags=tags)["Role"]
    for i, doc in enumerate(documents):
        if inline:
            iam.put_role_policy(RoleName=role["RoleName"], PolicyName=auto_name(f"atlas-kms-kms-inline-{i + 1}"),
                                PolicyDocument=doc)
        else:
            arn = iam.create_policy(PolicyName=auto_name(f"atlas-kms-kms-policy-{i + 1}"), PolicyDocument=doc,
                                    Tags=tags)["Policy"]["Arn"]
            iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn=arn)
    return str(role["Arn"])


def write_stack(directory: Path, stack: str, extra: str = "", key_arn: str | None = KEY_ARN) -> Path:
    path = directory / f"Pulumi.{stack}.yaml"
    key = f"  atlas-kms:keyArn: {key_arn}\n" if key_arn else ""
    path.write_text(f"config:\n  aws:region: eu-west-2\n  atlas-kms:projectId: \"{PROJECT}\"\n{key}{extra}")
    return path


def mutate(state: AtlasState) -> dict[str, Any]:
    state.project = copy.deepcopy(state.project)
    return state.project


@contextmanager
def running_atlas(state: AtlasState) -> Iterator[str]:
    """The stand-in on 127.0.0.1 serving `state`; yields its base URL."""
    handler = type("Handler", (AtlasStandIn,), {"state": state, "nonces": set()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
