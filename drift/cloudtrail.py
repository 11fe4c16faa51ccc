"""Is Atlas being refused by KMS right now? Read CloudTrail event history for the role's denied KMS calls.

Pure boto3 (no Pulumi). `denied_calls()` asks CloudTrail `LookupEvents` for the `kms:Decrypt`,
`kms:Encrypt` and `kms:DescribeKey` calls made by sessions of one IAM role (Atlas assumes it), keeps the
refused ones, and groups them by where they came from (`sourceIPAddress`, or `vpcEndpointId` for
PrivateLink). The result is evidence, not a verdict: anything that could not be read (no permission on
`cloudtrail:LookupEvents`, an unreachable endpoint, throttling that never ends, a key in another region) is
a `note` saying what was not checked, never an exception.

Facts this relies on, each checked against botocore's model (botocore/data/cloudtrail/2013-11-01/
service-2.json, operation LookupEvents) or the AWS documentation:

- "LookupAttributes ... Currently the list can contain only one item" (LookupEventsRequest in the model;
  https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html). One attribute per
  call, so several filters mean several call chains.
- MaxResults: "Possible values are 1 through 50. The default is 50" (model shape MaxResults: min 1, max 50);
  further pages through NextToken, which "must be passed in with the same parameters".
- "The rate of lookup requests is limited to two per second, per account, per Region. If this limit is
  exceeded, a throttling error occurs" (LookupEvents documentation in the model).
- Events are "sorted by time. The most recent event is listed first" (LookupEventsResponse.Events), and only
  the last 90 days are kept ("You can look up events that occurred in a Region within the last 90 days").
- "CloudTrail typically delivers logs within an average of about 5 minutes of an API call. This time is not
  guaranteed" (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/get-and-view-cloudtrail-log-files.html):
  the newest minutes of any window may still be missing; every report says so.
- "Cross-account operations on KMS keys are logged in both the caller account and the KMS key owner
  account. However, cross-account AWS KMS requests that are rejected because access is denied are logged
  only in the caller's account" (https://docs.aws.amazon.com/kms/latest/developerguide/logging-using-cloudtrail.html).
  Atlas's calls are made by a session of *our* role, so the caller's account is the role's account: the
  client passed in must hold credentials of the ROLE's account and be in the KEY's region (KMS logs the
  event in the region of the KMS endpoint that was called). A key in the key owner's account is looked up
  with the role account's credentials all the same.

Which lookup attribute (one per call, so the choice decides the number of pages):
- `ResourceName` = the key ARN (the default, `lookup="key"`): KMS puts the key ARN in the event's
  `resources` ("To make it easier to search for CloudTrail log entries for particular KMS keys, AWS KMS adds
  the key ARN ...", same KMS page), so the service returns only events on Atlas's key: every principal's,
  but a key dedicated to Atlas sees little else (Atlas's own checks, key administration). This is the
  fewest pages by far, one chain per key.
- `EventName` = Decrypt / Encrypt / DescribeKey (`lookup="event-name"`, three chains): account-wide, so
  every Decrypt by every service that uses KMS in the account and region (S3, EBS, Secrets Manager, ...)
  is paged through and filtered here. Many more pages; use it for a short window when an event might not
  carry the key ARN (for example a call naming a key that no longer exists).
- `EventSource` = kms.amazonaws.com is the superset of the previous one (every KMS operation): never better.
- `Username` is the role *session* name for assumed roles, which Atlas chooses, and `AccessKeyId` changes
  with every session: neither identifies the role, so the role is always matched here, from the event's
  `userIdentity.sessionContext.sessionIssuer.arn` (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html).

Rate limit: one `Throttle` per (account, region) is shared by every thread of the process, spacing requests
by 0.55 s (the documented 2/s with a 10 % margin, so network jitter cannot make the service see three in
one second). A `ThrottlingException` is retried with bounded exponential backoff (0.5 s doubling, at most
8 s, 5 attempts in all), and the backoff is imposed on the shared throttle so that the other threads of the
same account and region hold back too. The slot is taken in botocore's `before-send` event, right before
the HTTP request leaves, so botocore's own retries (legacy mode retries ThrottlingException by itself,
botocore/data/_retry.json) are paced as well; `cloudtrail_client()` turns those off so that the bounded
retrying here is the only one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import botocore.exceptions

from core.arns import ArnError, RoleArn, parse_key_arn, parse_role_arn

KMS_SOURCE = "kms.amazonaws.com"
# The three KMS actions Atlas uses (core.policies.USE_ACTIONS), as CloudTrail names the events.
WATCHED_EVENTS: tuple[str, ...] = ("Decrypt", "DescribeKey", "Encrypt")
# Errors that mean "the key cannot be used in its current state", as listed for Decrypt, Encrypt and
# DescribeKey in botocore's KMS model (botocore/data/kms/2014-11-01/service-2.json) and the KMS API
# reference (https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html#API_Decrypt_Errors):
# DisabledException "the specified KMS key is not enabled"; KMSInvalidStateException "the state of the
# specified resource is not valid for this request" (pending deletion, pending import, ...);
# NotFoundException "the specified entity or resource could not be found" (all three operations);
# KeyUnavailableException "the specified KMS key was not available" (custom key stores).
KEY_STATE_ERRORS = frozenset({"DisabledException", "KMSInvalidStateException", "NotFoundException",
                              "KeyUnavailableException"})
# Any code starting with this is a refusal by policy: KMS logs "AccessDenied" (and SDKs surface
# "AccessDeniedException"); both are the same outage for Atlas.
ACCESS_DENIED_PREFIX = "AccessDenied"
PAGE_SIZE = 50  # LookupEventsRequest.MaxResults: min 1, max 50 (botocore model)
RATE_PER_SECOND = 2.0  # "limited to two per second, per account, per Region" (LookupEvents documentation)
RATE_MARGIN = 1.1  # space requests 10 % wider than the limit: the service counts arrivals, not departures
DELIVERY_LAG = timedelta(minutes=5)  # "within an average of about 5 minutes of an API call", not guaranteed
HISTORY = timedelta(days=90)  # "events that occurred in a Region within the last 90 days"
THROTTLED = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
# AccessDenied on LookupEvents or an unreachable endpoint hits every chain alike: stop at the first one.
_FATAL_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnrecognizedClientException",
                          "InvalidClientTokenId", "ExpiredTokenException", "SignatureDoesNotMatch"})

_SERVICE_ID = "cloudtrail"  # metadata.serviceId "CloudTrail", hyphenized as botocore names its events
Lookup = Literal["key", "event-name"]
OriginKind = Literal["ip", "vpc-endpoint"]


class Throttle:
    """A minimum interval between requests, safe to share across threads.

    Each caller reserves the next free slot under the lock and sleeps outside it, so N threads get N
    evenly spaced slots and never sleep while holding the lock.
    """

    def __init__(self, rate: float = RATE_PER_SECOND, *, margin: float = RATE_MARGIN,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = margin / rate
        self._clock, self._sleep = clock, sleep
        self._next = float("-inf")
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for this caller's slot; returns how long it waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def hold_off(self, seconds: float) -> None:
        """After a ThrottlingException: nobody sharing this throttle sends before `seconds` from now."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)


_SHARED: dict[tuple[str, str], Throttle] = {}
_SHARED_LOCK = threading.Lock()


def shared_throttle(account: str, region: str) -> Throttle:
    """The process-wide throttle of one account and region (the unit of the LookupEvents rate limit)."""
    with _SHARED_LOCK:
        return _SHARED.setdefault((account, region), Throttle())


def cloudtrail_client(session: Any, region: str, *, endpoint_url: str | None = None, timeout: float = 10.0) -> Any:
    """A CloudTrail client for `denied_calls`: in the KEY's region, from a session of the ROLE's account.

    botocore's own retries are turned off (`total_max_attempts: 1`) so that every attempt, retries
    included, goes through the shared throttle; `denied_calls` does the bounded retrying itself.
    """
    from botocore.config import Config

    config = Config(retries={"total_max_attempts": 1}, connect_timeout=timeout, read_timeout=timeout)
    return session.client("cloudtrail", region_name=region, endpoint_url=endpoint_url, config=config)


@dataclass(frozen=True)
class DeniedGroup:
    """Refused KMS calls of the role from one address or one VPC endpoint: one finding's worth."""

    origin_kind: OriginKind  # "ip": sourceIPAddress; "vpc-endpoint": vpcEndpointId (PrivateLink)
    origin: str  # the address, or the vpce-... id
    count: int
    actions: tuple[str, ...]  # "kms:Decrypt", ... (the spelling of core.policies.USE_ACTIONS)
    error_codes: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    key_ids: tuple[str, ...]  # requestParameters.keyId and the resources' key ARNs, as logged
    source_ips: tuple[str, ...] = ()  # for a VPC endpoint: the private addresses the calls came from
    messages: tuple[str, ...] = ()  # distinct errorMessage values (KMS says which policy refused)

    @property
    def key_state(self) -> bool:
        """True when some refusal is the key's state (disabled, pending deletion, gone), not a policy."""
        return any(code in KEY_STATE_ERRORS for code in self.error_codes)

    @property
    def access_denied(self) -> bool:
        return any(code.startswith(ACCESS_DENIED_PREFIX) for code in self.error_codes)

    def line(self) -> str:
        where = self.origin if self.origin_kind == "ip" else f"{self.origin} (VPC endpoint)"
        return (f"denied  {where}  {self.count} call(s) {', '.join(self.actions)} refused "
                f"({', '.join(self.error_codes)}) {self.first_seen:%Y-%m-%dT%H:%M:%SZ} .. "
                f"{self.last_seen:%Y-%m-%dT%H:%M:%SZ} on {', '.join(self.key_ids) or 'an unnamed key'}")

    def to_json(self) -> dict[str, Any]:
        return {"originKind": self.origin_kind, "origin": self.origin, "count": self.count,
                "actions": list(self.actions), "errorCodes": list(self.error_codes),
                "firstSeen": _iso(self.first_seen), "lastSeen": _iso(self.last_seen), "keyIds": list(self.key_ids),
                "sourceIps": list(self.source_ips), "messages": list(self.messages), "keyState": self.key_state}


@dataclass(frozen=True)
class DeniedReport:
    role_arn: str
    key_arns: tuple[str, ...]
    since: datetime
    until: datetime
    lookup: Lookup
    groups: tuple[DeniedGroup, ...]
    notes: tuple[str, ...]  # what was NOT checked, and why; empty when everything asked for was read
    requests: int  # LookupEvents calls made, retries included
    # Calls made after this moment may not be in CloudTrail yet (delivery takes about 5 minutes).
    visible_until: datetime = field(default_factory=lambda: datetime.now(UTC) - DELIVERY_LAG)

    @property
    def complete(self) -> bool:
        return not self.notes

    @property
    def caveat(self) -> str:
        return (f"CloudTrail delivers events about {int(DELIVERY_LAG.total_seconds() // 60)} minutes after the call "
                f"(not guaranteed): calls after {_iso(self.visible_until)} may not be listed yet")

    def to_json(self) -> dict[str, Any]:
        return {"roleArn": self.role_arn, "keyArns": list(self.key_arns), "since": _iso(self.since),
                "until": _iso(self.until), "lookup": self.lookup, "groups": [g.to_json() for g in self.groups],
                "notes": list(self.notes), "requests": self.requests, "visibleUntil": _iso(self.visible_until),
                "caveat": self.caveat}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Acc:
    kind: OriginKind
    origin: str
    count: int = 0
    actions: set[str] = field(default_factory=set)
    codes: set[str] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None
    keys: set[str] = field(default_factory=set)
    ips: set[str] = field(default_factory=set)
    messages: set[str] = field(default_factory=set)

    def add(self, when: datetime, action: str, code: str, keys: set[str], ip: str, message: str) -> None:
        self.count += 1
        self.actions.add(f"kms:{action}")
        self.codes.add(code)
        self.first = when if self.first is None or when < self.first else self.first
        self.last = when if self.last is None or when > self.last else self.last
        self.keys |= keys
        if self.kind == "vpc-endpoint" and ip:
            self.ips.add(ip)
        if message:
            self.messages.add(message)

    def freeze(self) -> DeniedGroup:
        assert self.first is not None and self.last is not None
        return DeniedGroup(self.kind, self.origin, self.count, tuple(sorted(self.actions)), tuple(sorted(self.codes)),
                           self.first, self.last, tuple(sorted(self.keys)), tuple(sorted(self.ips)),
                           tuple(sorted(self.messages)))


class _AbortError(Exception):
    """Stop every remaining lookup: the cause (no permission, no endpoint) applies to all of them."""


def _refused(code: str) -> bool:
    return code.startswith(ACCESS_DENIED_PREFIX) or code in KEY_STATE_ERRORS


def _issuer(detail: dict[str, Any]) -> tuple[str, str] | None:
    """(account, lower-case role name) of the role whose session made the call, else None.

    For an assumed-role session CloudTrail records the role in
    userIdentity.sessionContext.sessionIssuer.arn (arn:aws:iam::<account>:role[/path]/<name>). Role names
    are unique within an account and "not distinguished by case"
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html#reference_iam-quotas-names),
    so account + name identify the role whatever path either ARN spells.
    """
    identity = detail.get("userIdentity")
    if not isinstance(identity, dict) or identity.get("type") != "AssumedRole":
        return None
    issuer = (identity.get("sessionContext") or {}).get("sessionIssuer") or {}
    try:
        role = parse_role_arn(str(issuer.get("arn", "")), "sessionIssuer.arn")
    except ArnError:
        return None
    return role.account, role.name.lower()


def _event_keys(event: dict[str, Any], detail: dict[str, Any]) -> set[str]:
    keys: set[str] = set()
    params = detail.get("requestParameters")
    if isinstance(params, dict) and isinstance(params.get("keyId"), str):
        keys.add(params["keyId"])  # as the caller gave it: an ARN, a key id or an alias
    for res in detail.get("resources") or []:
        if isinstance(res, dict) and isinstance(res.get("ARN"), str) and ":key/" in res["ARN"]:
            keys.add(res["ARN"])
    for res in event.get("Resources") or []:
        if res.get("ResourceType") == "AWS::KMS::Key" and ":key/" in str(res.get("ResourceName", "")):
            keys.add(str(res["ResourceName"]))
    return keys


def _event_time(event: dict[str, Any], detail: dict[str, Any]) -> datetime:
    when = event.get("EventTime")
    if isinstance(when, datetime):
        return when.astimezone(UTC)
    return datetime.strptime(str(detail["eventTime"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


class _Caller:
    """LookupEvents with the shared throttle, bounded retries on throttling, and errors turned into notes."""

    def __init__(self, client: Any, throttle: Throttle, attempts: int, backoff: float, backoff_cap: float) -> None:
        self.client, self.throttle = client, throttle
        self.attempts, self.backoff, self.backoff_cap = attempts, backoff, backoff_cap
        self.requests = 0
        self._thread = threading.get_ident()
        self._hook_id = f"atlas-kms-drift-throttle-{id(self)}"
        self.events: Any = getattr(getattr(client, "meta", None), "events", None)
        self.hooked = False

    def __enter__(self) -> _Caller:
        # The service counts requests when they ARRIVE. Taking the slot in botocore's `before-send` event
        # (botocore/endpoint.py: emitted after serialising and signing, right before the HTTP send) keeps
        # the client's own lazy work (endpoint rules, signing) out of the spacing, and paces any retry
        # botocore makes by itself too. A client without an event system is paced before each call.
        if self.events is not None:
            self.events.register(f"before-send.{_SERVICE_ID}.LookupEvents", self._before_send,
                                 unique_id=self._hook_id)
            self.hooked = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.hooked:
            self.events.unregister(f"before-send.{_SERVICE_ID}.LookupEvents", unique_id=self._hook_id)

    def _before_send(self, **_: Any) -> None:
        # Only this run's own requests: the same client may be serving another thread's run meanwhile.
        if threading.get_ident() == self._thread:
            self.throttle.acquire()
            self.requests += 1
        # returns None: a non-None answer from a before-send handler would replace the HTTP response

    def call(self, params: dict[str, Any]) -> dict[str, Any] | str:
        """The page, or a string saying why there is none (after which this chain stops)."""
        code = ""
        for attempt in range(self.attempts):
            if not self.hooked:
                self.throttle.acquire()
                self.requests += 1
            try:
                return dict(self.client.lookup_events(**params))
            except botocore.exceptions.ClientError as exc:
                err = exc.response.get("Error", {})
                code, message = str(err.get("Code", "")), str(err.get("Message", ""))
                if code in THROTTLED:
                    delay = min(self.backoff_cap, self.backoff * 2 ** attempt)
                    # Hold back every thread of this account and region; the wait itself is the next
                    # acquire(), so the retry is paced like any other request.
                    self.throttle.hold_off(delay)
                    continue
                if code in _FATAL_CODES:
                    raise _AbortError(f"CloudTrail refused LookupEvents to these credentials ({code}: {message}); "
                                 "grant cloudtrail:LookupEvents in the role's account") from None
                return f"CloudTrail LookupEvents failed ({code}: {message})"
            except botocore.exceptions.ParamValidationError:
                raise  # a request this module built wrong is a bug, not a condition to report
            except botocore.exceptions.BotoCoreError as exc:
                raise _AbortError(f"CloudTrail could not be reached ({exc})") from None
        return f"CloudTrail kept throttling LookupEvents ({code} after {self.attempts} attempts)"


def _chains(lookup: Lookup, keys: Sequence[str]) -> list[tuple[str, dict[str, str]]]:
    """(what the chain covers, its single lookup attribute): one attribute per call (botocore model)."""
    if lookup == "key":
        return [(f"key {arn}", {"AttributeKey": "ResourceName", "AttributeValue": arn}) for arn in keys]
    return [(f"kms:{name}", {"AttributeKey": "EventName", "AttributeValue": name}) for name in WATCHED_EVENTS]


def denied_calls(client: Any, *, role_arn: str, key_arns: Sequence[str], since: datetime,
                 until: datetime | None = None, lookup: Lookup = "key",
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] | None = None, throttle: Throttle | None = None,
                 max_pages: int = 200, attempts: int = 5, backoff: float = 0.5,
                 backoff_cap: float = 8.0) -> DeniedReport:
    """The role's refused Decrypt/Encrypt/DescribeKey calls between `since` and `until` (default: now).

    `client` is a CloudTrail client with credentials of the ROLE's account, in the KEY's region
    (cross-account denials are logged only in the caller's account; see the module docstring). Calls by
    any other principal are never reported, nor successful calls, nor other errors (a bad ciphertext is not
    a refusal). With `lookup="key"` only calls on `key_arns` are seen; with `"event-name"` every refused
    call of the role, on any key, in the account and region.

    The throttle is the process-wide one of the role's account and the client's region, unless `throttle`
    is given or `sleep`/`clock` are replaced (fake time then gets its own throttle and never leaks into the
    shared one). `max_pages` bounds each chain (200 pages = 10,000 events, 110 s at the rate limit).
    """
    role = parse_role_arn(role_arn, "role_arn")
    wall = now or (lambda: datetime.now(UTC))
    moment = wall()
    end = (until or moment).astimezone(UTC)
    start = since.astimezone(UTC)
    if start > end:
        raise ValueError(f"since {_iso(start)} is after until {_iso(end)}")
    region = str(getattr(getattr(client, "meta", None), "region_name", "") or "")
    notes: list[str] = []
    if start < moment - HISTORY:
        start = min(moment - HISTORY, end)
        notes.append(f"CloudTrail event history keeps 90 days: calls before {_iso(start)} were not checked")
    if throttle is None:
        throttle = (shared_throttle(role.account, region) if sleep is time.sleep and clock is time.monotonic
                    else Throttle(clock=clock, sleep=sleep))

    keys: list[str] = []
    for arn in key_arns:
        key = parse_key_arn(arn, "key_arns")
        if lookup == "key" and region and key.region != region:
            # KMS logs in the region of the endpoint called, i.e. the key's; another region's history is
            # silently empty, so say so rather than report "nothing denied".
            notes.append(f"key {arn} is in {key.region} but this CloudTrail client reads {region}: "
                         "its calls were not checked (use a client in the key's region)")
        else:
            keys.append(arn)
    if lookup == "key" and not key_arns:
        raise ValueError("lookup='key' needs at least one key ARN")

    with _Caller(client, throttle, attempts, backoff, backoff_cap) as caller:
        groups = _collect(caller, role, lookup, keys, start, end, max_pages, notes)
    ordered = sorted((a.freeze() for a in groups.values()), key=lambda g: (-g.count, g.origin_kind, g.origin))
    return DeniedReport(role_arn=role_arn, key_arns=tuple(key_arns), since=start, until=end, lookup=lookup,
                        groups=tuple(ordered), notes=tuple(notes), requests=caller.requests,
                        visible_until=min(end, moment - DELIVERY_LAG))


def _collect(caller: _Caller, role: RoleArn, lookup: Lookup, keys: list[str], start: datetime, end: datetime,
             max_pages: int, notes: list[str]) -> dict[tuple[OriginKind, str], _Acc]:
    """The role's refused calls, grouped by origin; what could not be read is appended to `notes`."""
    groups: dict[tuple[OriginKind, str], _Acc] = {}
    seen: set[str] = set()
    unreadable = 0
    chains = _chains(lookup, keys)
    for index, (what, attribute) in enumerate(chains):
        try:
            for event in _pages(caller, attribute, start, end, max_pages, what, notes):
                event_id = str(event.get("EventId", ""))
                if event_id and event_id in seen:
                    continue
                seen.add(event_id)
                try:
                    detail = json.loads(event["CloudTrailEvent"])
                    if not isinstance(detail, dict):
                        raise ValueError("not an object")
                except (KeyError, TypeError, ValueError):
                    unreadable += 1
                    continue
                if detail.get("eventSource") != KMS_SOURCE or detail.get("eventName") not in WATCHED_EVENTS:
                    continue
                if _issuer(detail) != (role.account, role.name.lower()):
                    continue  # another principal's call: never reported
                code = str(detail.get("errorCode") or "")
                if not _refused(code):
                    continue
                vpce = detail.get("vpcEndpointId")
                ip = str(detail.get("sourceIPAddress") or "")
                origin: tuple[OriginKind, str] = ("vpc-endpoint", str(vpce)) if vpce else ("ip", ip or "unknown")
                acc = groups.setdefault(origin, _Acc(*origin))
                acc.add(_event_time(event, detail), str(detail["eventName"]), code, _event_keys(event, detail), ip,
                        str(detail.get("errorMessage") or ""))
        except _AbortError as exc:
            rest = ", ".join(w for w, _ in chains[index:])
            notes.append(f"{exc}: not checked: {rest}")
            break
    if unreadable:
        notes.append(f"{unreadable} event(s) had no readable CloudTrailEvent JSON and were not judged")
    return groups


def _pages(caller: _Caller, attribute: dict[str, str], start: datetime, end: datetime, max_pages: int,
           what: str, notes: list[str]) -> Iterator[dict[str, Any]]:
    params: dict[str, Any] = {"LookupAttributes": [attribute], "StartTime": start, "EndTime": end,
                              "MaxResults": PAGE_SIZE}
    for _ in range(max_pages):
        page = caller.call(params)
        if isinstance(page, str):
            notes.append(f"{page}: {what} not checked (or only partly) from {_iso(start)} to {_iso(end)}")
            return
        yield from page.get("Events") or []
        token = page.get("NextToken")
        if not token:
            return
        # "This token must be passed in with the same parameters that were specified in the original call."
        params = {**params, "NextToken": token}
    notes.append(f"stopped after {max_pages} pages of {PAGE_SIZE} events: older calls on {what} were not checked")
