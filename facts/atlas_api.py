"""A small Atlas Admin API v2 client: the address endpoints, encryption at rest, digest auth, bounded retries.

https://www.mongodb.com/docs/atlas/reference/api-resources-spec/v2/#tag/Root/operation/listControlPlaneIpAddresses
https://www.mongodb.com/docs/atlas/reference/api-resources-spec/v2/#tag/Projects/operation/getGroupIpAddresses
https://www.mongodb.com/docs/api/doc/atlas-admin-api-v2/operation/operation-getgroupencryptionatrest
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from requests.auth import HTTPDigestAuth

from core.errors import ReadError
from core.facts import AtlasRole, Snapshot
from core.ips import CLOUDS, AddressError, ClusterAddresses, to_span

DEFAULT_BASE_URL = "https://cloud.mongodb.com"
# Each endpoint answers only in its own versioned media type.
CONTROL_PLANE_MEDIA_TYPE = "application/vnd.atlas.2023-11-15+json"
PROJECT_MEDIA_TYPE = "application/vnd.atlas.2023-01-01+json"
ENCRYPTION_MEDIA_TYPE = "application/vnd.atlas.2023-01-01+json"
ACCESS_MEDIA_TYPE = "application/vnd.atlas.2023-01-01+json"
SNAPSHOTS_MEDIA_TYPE = "application/vnd.atlas.2023-01-01+json"
# Snapshots are paged (itemsPerPage at most 500); a bound on the pages keeps one stack's check bounded.
SNAPSHOT_PAGE_SIZE = 500
SNAPSHOT_MAX_PAGES = 20
RETRIED_STATUSES = {429, 500, 502, 503, 504}
# A Retry-After (seconds) is honoured up to this bound: a run checks every stack within minutes (cron
# every 15 min), so an answer of an hour must not stall it; past the bound the next attempt simply
# retries earlier, and a still-limited answer ends in exit 2 after --retries.
# Retry-After in seconds: https://www.rfc-editor.org/rfc/rfc9110#field.retry-after
MAX_RETRY_AFTER = 30.0
# The most requests one client (one run of the drift command, every stack) has in flight at once. Atlas
# limits the rate per project and per organisation (429 RATE_LIMITED_TOKEN_BUCKET with Retry-After): the
# reads of a run share this small pool instead of each opening its own.
# https://www.mongodb.com/docs/atlas/api/#rate-limiting
ATLAS_CONCURRENCY = 8

T = TypeVar("T")

# The mongodbatlas provider's own variable names, newest first.
PUBLIC_KEY_VARS = ("MONGODB_ATLAS_PUBLIC_KEY", "MONGODB_ATLAS_PUBLIC_API_KEY", "MCLI_PUBLIC_API_KEY")
PRIVATE_KEY_VARS = ("MONGODB_ATLAS_PRIVATE_KEY", "MONGODB_ATLAS_PRIVATE_API_KEY", "MCLI_PRIVATE_API_KEY")


def _first_env(names: tuple[str, ...], env: Mapping[str, str]) -> str | None:
    return next((env[n] for n in names if env.get(n)), None)


@dataclass
class AtlasClient:
    base_url: str
    public_key: str
    private_key: str
    timeout: float = 10.0
    retries: int = 3
    backoff: float = 0.5
    # One session and digest state per thread: keep-alive, and the nonce is reused instead of
    # answering a fresh 401 challenge on every call.
    _local: threading.local = field(default_factory=threading.local, repr=False)
    # The control-plane answer is the same for every stack: asked once per run.
    _control_plane: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Independent reads run concurrently on one bounded pool per client (`submit`); each of its threads
    # keeps its own session, so a run answers at most `workers` digest challenges.
    workers: int = ATLAS_CONCURRENCY
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    _pool_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _control_plane_read: Future[dict[str, Any]] | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> AtlasClient:
        env = os.environ if env is None else env
        public, private = _first_env(PUBLIC_KEY_VARS, env), _first_env(PRIVATE_KEY_VARS, env)
        if not public or not private:
            raise ReadError("Atlas API keys not set: export MONGODB_ATLAS_PUBLIC_KEY and MONGODB_ATLAS_PRIVATE_KEY")
        base = (env.get("MONGODB_ATLAS_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        return cls(base_url=base, public_key=public, private_key=private, **kwargs)

    def __repr__(self) -> str:  # never show the private key
        return f"AtlasClient(base_url={self.base_url!r}, public_key={self.public_key!r})"

    def submit(self, read: Callable[..., T], *args: Any) -> Future[T]:
        """Run one read of this client on its bounded pool. Only plain reads go there (a method that waits
        on another read, such as `gateways`, is called by the caller's own thread), so no worker ever
        waits for another."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="atlas-api")
            return self._pool.submit(read, *args)

    def close(self) -> None:
        """Wait for the reads in flight, drop the ones not started, and stop the pool's threads."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def prefetch_control_plane(self) -> None:
        """Start reading the control-plane list (once per client) without waiting for it."""
        with self._lock:
            if not self._control_plane and self._control_plane_read is None:
                self._control_plane_read = self.submit(self._read_control_plane)

    def _get(self, path: str, media_type: str) -> Any:
        url = f"{self.base_url}{path}"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            if not hasattr(self._local, "session"):
                self._local.session = requests.Session()
                self._local.session.auth = HTTPDigestAuth(self.public_key, self.private_key)
            try:
                response = self._local.session.get(url, headers={"Accept": media_type}, timeout=self.timeout)
            except requests.Timeout:
                last = f"Atlas API timed out after {self.timeout:g}s on GET {path}"
                continue
            except requests.ConnectionError as exc:
                last = f"cannot reach the Atlas API at {self.base_url} ({type(exc).__name__})"
                continue
            if response.status_code in RETRIED_STATUSES:
                last = f"Atlas API answered {response.status_code} on GET {path}"
                retry_after = response.headers.get("Retry-After", "")
                if retry_after.isdigit() and attempt < self.retries:
                    time.sleep(min(float(retry_after), MAX_RETRY_AFTER))
                continue
            if response.status_code in (401, 403):
                raise ReadError(
                    f"Atlas API refused the credentials ({response.status_code}) on GET {path}: check "
                    "MONGODB_ATLAS_PUBLIC_KEY/PRIVATE_KEY and the key's access list and project role"
                )
            if response.status_code == 404:
                raise ReadError(f"Atlas API answered 404 on GET {path}: check atlas-kms:projectId")
            if response.status_code != 200:
                raise ReadError(f"Atlas API answered {response.status_code} on GET {path}")
            try:
                return response.json()
            except ValueError:
                raise ReadError(f"Atlas API sent malformed JSON on GET {path}") from None
        raise ReadError(f"{last} (gave up after {self.retries + 1} attempts)")

    def control_plane_outbound(self) -> dict[str, dict[str, list[str]]]:
        # The spec requires nothing in the answer, so an absent or empty `outbound` is conformant: it
        # says Atlas has no control-plane addresses, not that the answer is malformed. The program stops
        # its update on such an answer (core.ips), so nothing can be judged against it either.
        outbound = _regions(self._control_plane_body().get("outbound", {}), "outbound")
        if not any(cidrs for regions in outbound.values() for cidrs in regions.values()):
            raise ReadError("Atlas reported no control-plane outbound addresses (its answer lists none): the "
                             "program refuses to update from such an answer, so there is nothing to judge against")
        return outbound

    def gateways(self) -> list[tuple[str, str, str]]:
        """(gateway name, cloud/region, CIDR) of every gateway's outbound addresses.

        The provider's data source does not expose `gateways` (mongodbatlas 4.18), so the program cannot
        allow them; the drift command shows the ones the policy does not allow, as warnings.
        """
        raw = self._control_plane_body().get("gateways") or []
        if not isinstance(raw, list):
            raise ReadError("malformed control-plane answer: `gateways` is not a list")
        out: list[tuple[str, str, str]] = []
        for gateway in raw:
            if not isinstance(gateway, dict):
                raise ReadError("malformed control-plane answer: a gateway is not an object")
            name = str(gateway.get("name") or "unnamed")
            regions = _regions(((gateway.get("ips") or {}).get("outbound")) or {}, f"gateways[{name}].ips.outbound")
            for cloud, by_region in sorted(regions.items()):
                for region, cidrs in sorted(by_region.items()):
                    for cidr in cidrs:
                        try:
                            cidr = to_span(cidr, f"gateway {name} {cloud}/{region}").cidr  # normalised: one line per address
                        except AddressError as exc:
                            raise ReadError(f"malformed control-plane answer: {exc}") from None
                        out.append((name, f"{cloud}/{region}", cidr))
        return out

    def _control_plane_body(self) -> dict[str, Any]:
        """The control-plane answer, read once per client; a failed read is tried again by the next caller."""
        with self._lock:
            read = self._control_plane_read
            if not self._control_plane and read is None:
                self._control_plane.append(self._read_control_plane())
            if self._control_plane:
                return self._control_plane[0]
        assert read is not None
        try:
            body = read.result()
        except ReadError:
            with self._lock:
                if self._control_plane_read is read:
                    self._control_plane_read = None
            raise
        with self._lock:
            if not self._control_plane:
                self._control_plane.append(body)
            self._control_plane_read = None
            return self._control_plane[0]

    def _read_control_plane(self) -> dict[str, Any]:
        body = self._get("/api/atlas/v2/unauth/controlPlaneIPAddresses", CONTROL_PLANE_MEDIA_TYPE)
        if not isinstance(body, dict) or not isinstance(body.get("outbound", {}), dict):
            raise ReadError("malformed control-plane answer: no `outbound` object")
        return body

    def encryption_at_rest(self, project_id: str) -> dict[str, Any]:
        """The project's `awsKms` settings as Atlas holds them: enabled, customerMasterKeyID, valid."""
        body = self._get(f"/api/atlas/v2/groups/{project_id}/encryptionAtRest", ENCRYPTION_MEDIA_TYPE)
        aws = body.get("awsKms") if isinstance(body, dict) else None
        if aws is None:
            return {}
        if not isinstance(aws, dict):
            raise ReadError("malformed encryption-at-rest answer: `awsKms` is not an object")
        return aws

    def cloud_provider_access(self, project_id: str) -> list[AtlasRole]:
        """The AWS IAM roles Atlas has for this project, and which Atlas features use each.

        The answer is the project's own list; `featureUsages[].featureType` ENCRYPTION_AT_REST marks the
        role encryption at rest uses (its featureId is always null for this feature, per the spec).
        https://www.mongodb.com/docs/api/doc/atlas-admin-api-v2/operation/operation-listgroupcloudprovideraccess
        """
        body = self._get(f"/api/atlas/v2/groups/{project_id}/cloudProviderAccess", ACCESS_MEDIA_TYPE)
        roles = body.get("awsIamRoles", []) if isinstance(body, dict) else None
        if not isinstance(roles, list) or not all(isinstance(r, dict) for r in roles):
            raise ReadError("malformed cloud provider access answer: awsIamRoles is not a list of objects")
        out = []
        for role in roles:
            usages = [u for u in role.get("featureUsages") or [] if isinstance(u, dict)]
            arn = role.get("iamAssumedRoleArn")
            out.append(AtlasRole(role_id=str(role.get("roleId") or ""),
                                 iam_role_arn=arn if isinstance(arn, str) and arn else None,
                                 features=tuple(str(u.get("featureType")) for u in usages if u.get("featureType")),
                                 external_id=str(role.get("atlasAssumedRoleExternalId") or "")))
        return out

    def encryption_roles(self, project_id: str) -> list[str]:
        """ARNs of the IAM roles Atlas uses for this project's encryption at rest."""
        return sorted({r.iam_role_arn for r in self.cloud_provider_access(project_id)
                       if r.serves_encryption and r.iam_role_arn})

    def kms_private_endpoints(self, project_id: str) -> list[dict[str, Any]]:
        """Atlas's KMS private endpoints for AWS (regionName, status, errorMessage, privateEndpointConnectionName).
        https://www.mongodb.com/docs/api/doc/atlas-admin-api-v2/operation/operation-listgroupencryptionatrestprivateendpoints
        """
        body = self._get(f"/api/atlas/v2/groups/{project_id}/encryptionAtRest/AWS/privateEndpoints", ENCRYPTION_MEDIA_TYPE)
        results = body.get("results", []) if isinstance(body, dict) else None
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise ReadError("malformed private endpoints answer: results is not a list of objects")
        return results

    def snapshots(self, project_id: str, cluster: str) -> list[Snapshot]:
        """Every backup snapshot of one cluster Atlas lists (id, dates, the key it is encrypted with)."""
        out: list[Snapshot] = []
        for page in range(1, SNAPSHOT_MAX_PAGES + 1):
            body = self._get(f"/api/atlas/v2/groups/{project_id}/clusters/{quote(cluster)}/backup/snapshots"
                             f"?pageNum={page}&itemsPerPage={SNAPSHOT_PAGE_SIZE}", SNAPSHOTS_MEDIA_TYPE)
            results = body.get("results", []) if isinstance(body, dict) else None
            if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
                raise ReadError(f"malformed snapshots answer for cluster {cluster}: results is not a list of objects")
            for r in results:
                out.append(Snapshot(cluster=cluster, id=str(r.get("id", "")), created_at=str(r.get("createdAt", "")),
                                    expires_at=r.get("expiresAt") if isinstance(r.get("expiresAt"), str) else None,
                                    key_id=r.get("masterKeyUUID") if isinstance(r.get("masterKeyUUID"), str) else None))
            total = body.get("totalCount")
            if len(results) < SNAPSHOT_PAGE_SIZE or (isinstance(total, int) and len(out) >= total):
                return out
        raise ReadError(f"cluster {cluster} lists more than {SNAPSHOT_PAGE_SIZE * SNAPSHOT_MAX_PAGES} snapshots; "
                         "not all were read")

    def project_clusters(self, project_id: str) -> list[ClusterAddresses]:
        body = self._get(f"/api/atlas/v2/groups/{project_id}/ipAddresses", PROJECT_MEDIA_TYPE)
        services = body.get("services") if isinstance(body, dict) else None
        clusters = (services or {}).get("clusters", []) if isinstance(services, dict) or services is None else None
        if not isinstance(clusters, list):
            raise ReadError("malformed project answer: services.clusters is not a list")
        out: list[ClusterAddresses] = []
        for c in clusters:
            if not isinstance(c, dict) or not isinstance(c.get("clusterName"), str):
                raise ReadError("malformed project answer: a cluster without clusterName")
            lists = {k: c.get(k) or [] for k in ("outbound", "futureOutbound")}
            if not all(isinstance(v, list) and all(isinstance(i, str) for i in v) for v in lists.values()):
                raise ReadError(f"malformed project answer: cluster {c['clusterName']} addresses are not strings")
            out.append(ClusterAddresses(c["clusterName"], tuple(lists["outbound"]), tuple(lists["futureOutbound"])))
        return out


def _regions(section: Any, where: str) -> dict[str, dict[str, list[str]]]:
    """cloud -> region -> CIDRs, checked: an answer of another shape is never guessed at.

    Every cloud is kept, not only aws/azure/gcp: the spec leaves the object open, and core.ips decides
    what a cloud it does not know means (it refuses rather than drop Atlas's addresses).
    """
    if not isinstance(section, dict):
        raise ReadError(f"malformed control-plane answer: `{where}` is not an object")
    result: dict[str, dict[str, list[str]]] = {}
    for cloud in (*CLOUDS, *sorted(k for k in section if k not in CLOUDS)):
        regions = section.get(cloud) or {}
        if not isinstance(regions, dict) or not all(
            isinstance(v, list) and all(isinstance(i, str) for i in v) for v in regions.values()
        ):
            raise ReadError(f"malformed control-plane answer: {where}.{cloud} is not region -> list of CIDRs")
        result[cloud] = {str(k): list(v) for k, v in regions.items()}
    return result
