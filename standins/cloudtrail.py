"""A CloudTrail stand-in on 127.0.0.1 that speaks LookupEvents as botocore's own model defines it.

It is not a yes-machine. Every request is checked, in the order a front door would:
- the JSON 1.1 protocol: POST /, `Content-Type: application/x-amz-json-1.1`, `X-Amz-Target:
  com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents` (metadata.targetPrefix + operation
  in botocore/data/cloudtrail/2013-11-01/service-2.json);
- a SigV4 signature recomputed with botocore's own signer for the known test secret, scoped to the
  `cloudtrail` service and the stand-in's region;
- the rate limit, "two per second, per account, per Region" (LookupEvents documentation in the model):
  a third arrival within one second is answered `ThrottlingException` (HTTP 400, `__type`);
- the body against the operation's input shape, twice: a strict walk of the wire form (types, unknown
  members, required members, enums, min/max) and botocore's ParamValidator on the parsed parameters;
- the service's own rules, with the error codes the model lists for LookupEvents: more than one lookup
  attribute or an unknown AttributeKey (InvalidLookupAttributesException: "Currently the list can contain
  only one item"), MaxResults outside 1..50 (InvalidMaxResultsException), StartTime after EndTime
  (InvalidTimeRangeException), a NextToken from other parameters (InvalidNextTokenException: "This token
  must be passed in with the same parameters"), an EventCategory other than "insight"
  (InvalidEventCategoryException).
Every response body is checked too before it is sent: the strict walk against the output shape, then
botocore's JSON parser must read it back (and for errors, read back the same code).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import botocore.loaders
import botocore.parsers
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.model import ServiceModel, Shape, StringShape, StructureShape
from botocore.validate import ParamValidator

from core.arns import Arn, account_of, region_of

MODEL = ServiceModel(botocore.loaders.Loader().load_service_model("cloudtrail", "service-2"), "cloudtrail")
OPERATION = MODEL.operation_model("LookupEvents")
assert OPERATION.input_shape is not None and OPERATION.output_shape is not None
INPUT: StructureShape = OPERATION.input_shape  # LookupEventsRequest
OUTPUT: StructureShape = OPERATION.output_shape  # LookupEventsResponse
TARGET = f"{MODEL.metadata['targetPrefix']}.LookupEvents"
CONTENT_TYPE = f"application/x-amz-json-{MODEL.metadata['jsonVersion']}"
SECRETS = {"testing": "testing"}  # access key id -> secret key, for the SigV4 check
REGION = "eu-west-2"
ROLE_ARN = "arn:aws:iam::123456789012:role/atlas-kms-role-prod"
KEY_ARN = "arn:aws:kms:eu-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
_AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/"
                   r"aws4_request, ?SignedHeaders=(?P<signed>[^,]+), ?Signature=(?P<sig>[0-9a-f]{64})$")


# ----------------------------------------------------------------------------------------------- the model
def wire_problems(value: Any, shape: Shape, path: str = "") -> list[tuple[str, str]]:
    """(path, problem) for every way `value`, as JSON 1.1 puts it on the wire, breaks `shape`.

    Stricter than ParamValidator on purpose: ParamValidator checks only `min` (range_check in
    botocore/validate.py), not `max` nor enums, which the service enforces.
    """
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        if not isinstance(value, dict):
            return [(path, f"expected an object, got {type(value).__name__}")]
        problems = [(f"{path}.{k}".lstrip("."), "unknown member") for k in value if k not in shape.members]
        problems += [(f"{path}.{k}".lstrip("."), "missing required member") for k in shape.required_members
                     if k not in value]
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                problems += wire_problems(value[name], member, f"{path}.{name}".lstrip("."))
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [(path, f"expected a list, got {type(value).__name__}")]
        problems = _bounds(len(value), meta, path, "length")
        for i, item in enumerate(value):
            problems += wire_problems(item, shape.member, f"{path}[{i}]")  # type: ignore[attr-defined]
        return problems
    if kind == "string":
        if not isinstance(value, str):
            return [(path, f"expected a string, got {type(value).__name__}")]
        problems = _bounds(len(value), meta, path, "length")
        enum = shape.enum if isinstance(shape, StringShape) else []
        if enum and value not in enum:
            problems.append((path, f"{value!r} is not one of {enum}"))
        return problems
    if kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            return [(path, f"expected an integer, got {type(value).__name__}")]
        return _bounds(value, meta, path, "value")
    if kind == "timestamp":
        # JSON 1.1 timestamps are epoch seconds (botocore/serialize.py: JSONSerializer TIMESTAMP_FORMAT).
        if not isinstance(value, int | float) or isinstance(value, bool):
            return [(path, f"expected epoch seconds, got {type(value).__name__}")]
        return []
    if kind == "boolean":
        return [] if isinstance(value, bool) else [(path, "expected a boolean")]
    return [(path, f"shape type {kind} not handled by the stand-in")]


def _bounds(n: int, meta: dict[str, Any], path: str, what: str) -> list[tuple[str, str]]:
    if "min" in meta and n < meta["min"]:
        return [(path, f"{what} {n} is below the minimum {meta['min']}")]
    if "max" in meta and n > meta["max"]:
        return [(path, f"{what} {n} is above the maximum {meta['max']}")]
    return []


def _as_params(value: Any, shape: Shape) -> Any:
    """The wire form as a boto3 caller would have written it (epoch seconds -> datetime), for ParamValidator."""
    if shape.type_name == "structure" and isinstance(value, dict):
        members = shape.members  # type: ignore[attr-defined]
        return {k: _as_params(v, members[k]) if k in members else v for k, v in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [_as_params(v, shape.member) for v in value]  # type: ignore[attr-defined]
    if shape.type_name == "timestamp" and isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return value


# ------------------------------------------------------------------------------------------------- events
def _user_identity(identity: str, role_arn: str, session: str, at: datetime) -> tuple[dict[str, Any], str]:
    """(userIdentity, Username) of the caller: "role" (an AssumedRole session of `role_arn`), "user" (an IAM
    user) or "service" (AWSService)."""
    account = account_of(role_arn)
    role_name = Arn.parse(role_arn).name
    principal = "AROA" + hashlib.sha1(role_arn.encode()).hexdigest()[:17].upper()
    if identity == "role":
        return {
            "type": "AssumedRole", "principalId": f"{principal}:{session}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role_name}/{session}", "accountId": account,
            "accessKeyId": "ASIA" + principal[4:20],
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": principal, "arn": role_arn, "accountId": account,
                                  "userName": role_name},
                "webIdFederationData": {},
                "attributes": {"creationDate": (at.replace(microsecond=0)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "mfaAuthenticated": "false"},
            },
        }, session
    if identity == "user":
        return {"type": "IAMUser", "principalId": "AIDAEXAMPLEUSER", "arn": f"arn:aws:iam::{account}:user/Alice",
                "accountId": account, "accessKeyId": "AKIAEXAMPLEUSER", "userName": "Alice"}, "Alice"
    return {"type": "AWSService", "invokedBy": "s3.amazonaws.com"}, ""


def _outcome(detail: dict[str, Any], name: str, key_arn: str, error_code: str | None) -> None:
    """The call's error (as KMS words it) or its response."""
    if not error_code:
        detail["responseElements"] = {"keyId": key_arn} if name == "DescribeKey" else None
        return
    detail["errorCode"] = error_code
    detail["errorMessage"] = {
        "DisabledException": f"{key_arn} is disabled.",
        "KMSInvalidStateException": f"{key_arn} is pending deletion.",
        "NotFoundException": f"Key '{key_arn}' does not exist",
        "InvalidCiphertextException": None,
    }.get(error_code, f"User: {detail['userIdentity'].get('arn')} is not authorized to perform: kms:{name} on "
                      f"resource: {key_arn} because no identity-based policy allows the kms:{name} action")
    if detail["errorMessage"] is None:
        del detail["errorMessage"]


def kms_event(*, at: datetime, name: str = "Decrypt", role_arn: str = ROLE_ARN, key_arn: str = KEY_ARN,
              source_ip: str = "198.51.100.7", vpce: str | None = None, error_code: str | None = None,
              identity: str = "role", session: str = "atlas-kms-session", key_in_request: bool = True,
              event_id: str | None = None) -> dict[str, Any]:
    """One LookupEvents `Event` for a KMS call, with `CloudTrailEvent` written as KMS writes it.

    Layout from the KMS developer guide's examples (https://docs.aws.amazon.com/kms/latest/developerguide/
    ct-decrypt.html, ct-describekey.html, ct-encrypt.html) and the userIdentity reference
    (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html).
    `identity`: "role" (an AssumedRole session of `role_arn`), "user" (an IAM user), "service" (AWSService).
    """
    account = account_of(role_arn)
    user_identity, username = _user_identity(identity, role_arn, session, at)
    params: dict[str, Any] = {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"} if name != "DescribeKey" else {}
    if key_in_request or name != "Decrypt":
        params["keyId"] = key_arn
    event_id = event_id or str(uuid.uuid4())
    detail: dict[str, Any] = {
        "eventVersion": "1.09", "userIdentity": user_identity,
        "eventTime": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "kms.amazonaws.com", "eventName": name, "awsRegion": region_of(key_arn),
        "sourceIPAddress": "s3.amazonaws.com" if identity == "service" else source_ip,
        "userAgent": "aws-sdk-go/1.44.0 (go1.21; linux; amd64)",
        "requestParameters": params, "responseElements": None,
        "requestID": str(uuid.uuid4()), "eventID": event_id, "readOnly": True,
        "resources": [{"accountId": account_of(key_arn), "type": "AWS::KMS::Key", "ARN": key_arn}],
        "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": account,
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": f"kms.{region_of(key_arn)}.amazonaws.com"},
    }
    if vpce:
        detail["vpcEndpointId"] = vpce
        detail["vpcEndpointAccountId"] = account
    _outcome(detail, name, key_arn, error_code)
    event: dict[str, Any] = {
        "EventId": event_id, "EventName": name, "ReadOnly": "true", "EventTime": at.astimezone(UTC),
        "EventSource": "kms.amazonaws.com",
        "Resources": [{"ResourceType": "AWS::KMS::Key", "ResourceName": key_arn}],
        "CloudTrailEvent": json.dumps(detail),
    }
    if "accessKeyId" in user_identity:
        event["AccessKeyId"] = user_identity["accessKeyId"]
    if username:
        event["Username"] = username
    return event


def _matches(event: dict[str, Any], attribute: dict[str, str]) -> bool:
    key, value = attribute["AttributeKey"], attribute["AttributeValue"]
    resources = [r for r in event.get("Resources") or [] if isinstance(r, dict)]
    if key in ("ResourceName", "ResourceType"):
        return any(r.get(key) == value for r in resources)
    return bool(event.get(key) == value)  # EventId, EventName, ReadOnly, Username, EventSource, AccessKeyId


# -------------------------------------------------------------------------------------------- the server
@dataclass
class Request:
    at: float  # time.monotonic() on arrival
    body: Any  # the parsed JSON body (None when it was not JSON)
    status: int
    code: str  # "" when answered 200, else the error's __type


@dataclass
class CloudTrailState:
    events: list[dict[str, Any]] = field(default_factory=list)
    rate_limit: float | None = 2.0  # requests per second; None turns the limit off (model-refusal tests)
    faults: list[str] = field(default_factory=list)  # error codes answered to the next valid requests, in turn
    requests: list[Request] = field(default_factory=list)
    refused_responses: list[str] = field(default_factory=list)  # bodies the stand-in refused to send
    lock: threading.Lock = field(default_factory=threading.Lock)
    _arrivals: deque[float] = field(default_factory=deque)

    @property
    def accepted(self) -> list[Request]:
        return [r for r in self.requests if r.status == 200]

    def codes(self) -> list[str]:
        return [r.code for r in self.requests]


class CloudTrailStandIn(BaseHTTPRequestHandler):
    state: CloudTrailState
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's urllib3 pool expects

    def log_message(self, *args: Any) -> None:
        pass

    # -- answers
    def _send(self, status: int, body: dict[str, Any], at: float, request_body: Any) -> None:
        """Log, then send `body`; a 200 body that breaks the output shape is replaced by a 500.

        The request is logged BEFORE the answer is written, so a test that has its answer sees its record.
        """
        raw = json.dumps(body).encode()
        request_id = str(uuid.uuid4())
        headers = {"x-amzn-requestid": request_id, "content-type": CONTENT_TYPE}
        problems = wire_problems(body, OUTPUT) if status == 200 else []
        parsed: dict[str, Any] = {}
        if not problems:
            try:
                parsed = botocore.parsers.create_parser("json").parse(
                    {"status_code": status, "headers": headers, "body": raw}, OUTPUT)
            except Exception as exc:  # whatever botocore's parser chokes on, the client would choke on too
                problems = [("", f"botocore cannot parse it: {exc!r}")]
        if status == 200:
            parsed.pop("ResponseMetadata", None)
            report = ParamValidator().validate(parsed, OUTPUT)
            if problems or report.has_errors():
                self.state.refused_responses.append(f"{problems} {report.generate_report()}")
                status, body = 500, {"__type": "InternalFailure",
                                     "message": "stand-in refused to send a body that breaks the model"}
                raw = json.dumps(body).encode()
        elif parsed.get("Error", {}).get("Code") != body["__type"]:
            raise AssertionError(f"botocore would not read the error {body['__type']} back: {parsed}")
        with self.state.lock:
            self.state.requests.append(Request(at, request_body, status, str(body.get("__type", ""))))
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("x-amzn-RequestId", request_id)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, status: int, code: str, message: str, body: Any, at: float) -> None:
        self._send(status, {"__type": code, "message": message}, at, body)

    # -- checks
    def _signature_problem(self, raw: bytes) -> str:
        header = self.headers.get("Authorization", "")
        m = _AUTH.match(header)
        if not m:
            return "MissingAuthenticationTokenException" if not header else "IncompleteSignatureException"
        if m["service"] != "cloudtrail" or m["region"] != REGION or m["key"] not in SECRETS:
            return "InvalidSignatureException"
        signed = m["signed"].split(";")
        try:
            headers = {name: self.headers[name] for name in signed}
        except KeyError:
            return "IncompleteSignatureException"
        request = AWSRequest(method="POST", url=f"http://{self.headers['Host']}{self.path}", headers=headers, data=raw)
        request.context["timestamp"] = self.headers.get("X-Amz-Date", "")
        signer = SigV4Auth(Credentials(m["key"], SECRETS[m["key"]]), "cloudtrail", REGION)
        expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
        return "" if expected == m["sig"] else "InvalidSignatureException"

    def _throttled(self, at: float) -> bool:
        limit = self.state.rate_limit
        with self.state.lock:
            arrivals = self.state._arrivals
            while arrivals and arrivals[0] <= at - 1.0:
                arrivals.popleft()
            over = limit is not None and len(arrivals) >= limit
            arrivals.append(at)  # a refused arrival counts too: hammering stays throttled
        return over

    def do_POST(self) -> None:
        at = time.monotonic()
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/" or self.headers.get("X-Amz-Target") != TARGET:
            self._error(400, "UnknownOperationException", f"unknown target {self.headers.get('X-Amz-Target')}", None, at)
            return
        if self.headers.get("Content-Type") != CONTENT_TYPE:
            self._error(400, "SerializationException", f"expected {CONTENT_TYPE}", None, at)
            return
        sig = self._signature_problem(raw)
        if sig:
            self._error(403 if sig == "InvalidSignatureException" else 400, sig, "request signature rejected", None, at)
            return
        if self._throttled(at):
            self._error(400, "ThrottlingException", "Rate exceeded", None, at)
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._error(400, "SerializationException", "body is not JSON", None, at)
            return
        code, message = self._invalid(body)
        if code:
            self._error(400, code, message, body, at)
            return
        with self.state.lock:
            fault = self.state.faults.pop(0) if self.state.faults else ""
        if fault:
            self._error(400, fault, {"AccessDeniedException": "User is not authorized to perform: cloudtrail:LookupEvents"}
                        .get(fault, "Rate exceeded"), body, at)
            return
        page, error = self._page(body)
        if error:
            self._error(400, "InvalidNextTokenException", error, body, at)
            return
        self._send(200, page, at, body)

    def _invalid(self, body: Any) -> tuple[str, str]:
        problems = wire_problems(body, INPUT)
        # The service's own rules and codes first (the errors the model lists for LookupEvents).
        for path, problem in problems:
            if path.startswith("LookupAttributes"):
                return "InvalidLookupAttributesException", f"{path}: {problem}"
            if path == "MaxResults" and "expected" not in problem:
                return "InvalidMaxResultsException", f"{path}: {problem}"
            if path == "EventCategory" and "expected" not in problem:
                return "InvalidEventCategoryException", f"{path}: {problem}"
        if problems:
            typed = [p for p in problems if p[1].startswith("expected")]
            return ("SerializationException" if typed else "ValidationException"), "; ".join(f"{p}: {q}" for p, q in problems)
        report = ParamValidator().validate(_as_params(body, INPUT), INPUT)
        if report.has_errors():
            return "ValidationException", report.generate_report()
        attributes = body.get("LookupAttributes") or []
        if len(attributes) > 1:
            # LookupEventsRequest.LookupAttributes: "Currently the list can contain only one item."
            return "InvalidLookupAttributesException", "You can specify only one lookup attribute per request"
        if "StartTime" in body and "EndTime" in body and body["StartTime"] > body["EndTime"]:
            return "InvalidTimeRangeException", "Start time must be before end time"
        return "", ""

    def _page(self, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        query = {k: body.get(k) for k in ("LookupAttributes", "StartTime", "EndTime", "EventCategory")}
        digest = hashlib.sha256(json.dumps(query, sort_keys=True).encode()).hexdigest()[:16]
        offset = 0
        if "NextToken" in body:
            try:
                token = json.loads(base64.urlsafe_b64decode(body["NextToken"].encode()))
                offset = int(token["o"])
                if token["q"] != digest:
                    return {}, "the token was issued for other parameters"
            except (ValueError, KeyError, TypeError):
                return {}, "the token is not valid"
        attribute = (body.get("LookupAttributes") or [None])[0]
        start, end = body.get("StartTime"), body.get("EndTime")
        with self.state.lock:
            events = list(self.state.events)
        if body.get("EventCategory") == "insight":
            events = []  # this stand-in holds management events only
        chosen = [e for e in events
                  if (attribute is None or _matches(e, attribute))
                  # StartTime: "events that occur after or at"; EndTime: "before or at" (model docs).
                  and (start is None or e["EventTime"].timestamp() >= start)
                  and (end is None or e["EventTime"].timestamp() <= end)]
        chosen.sort(key=lambda e: e["EventTime"], reverse=True)  # "The most recent event is listed first."
        size = int(body.get("MaxResults", 50))
        window = chosen[offset:offset + size]
        page: dict[str, Any] = {"Events": [{**e, "EventTime": e["EventTime"].timestamp()} for e in window]}
        if offset + size < len(chosen):
            page["NextToken"] = base64.urlsafe_b64encode(json.dumps({"q": digest, "o": offset + size}).encode()).decode()
        return page, ""


@contextmanager
def running_standin(state: CloudTrailState | None = None) -> Iterator[tuple[CloudTrailState, str]]:
    """(state, endpoint URL) of a stand-in on a free port of 127.0.0.1, stopped on exit."""
    state = state or CloudTrailState()
    handler = type("Handler", (CloudTrailStandIn,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
