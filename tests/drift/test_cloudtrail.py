"""drift.cloudtrail: the role's refused KMS calls, read from CloudTrail event history (a stand-in on 127.0.0.1).

The stand-in checks every request against botocore's model of LookupEvents and the service's rules, so a
passing test also proves the requests `denied_calls` sends are ones CloudTrail accepts.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from drift.cloudtrail import (
    DELIVERY_LAG,
    DeniedReport,
    Throttle,
    cloudtrail_client,
    denied_calls,
    shared_throttle,
)
from standins.cloudtrail import (
    CONTENT_TYPE,
    KEY_ARN,
    REGION,
    ROLE_ARN,
    TARGET,
    CloudTrailState,
    kms_event,
    running_standin,
)

OTHER_KEY = "arn:aws:kms:eu-west-2:123456789012:key/0987dcba-09fe-87dc-65ba-ab0987654321"
FOREIGN_KEY = "arn:aws:kms:eu-west-2:444455556666:key/11112222-3333-4444-5555-666677778888"
NOW = datetime.now(UTC).replace(microsecond=0)
SINCE = NOW - timedelta(hours=6)


@dataclass
class Trail:
    state: CloudTrailState
    url: str

    def client(self, **config: Any) -> Any:
        # botocore's own retries off, as cloudtrail_client() does: every attempt goes through the throttle.
        return boto3.client("cloudtrail", region_name=REGION, endpoint_url=self.url,
                            config=Config(retries={"total_max_attempts": 1}, **config))


@pytest.fixture()
def trail(monkeypatch: pytest.MonkeyPatch) -> Iterator[Trail]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with running_standin() as (state, url):
        yield Trail(state, url)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def check(trail: Trail, **kwargs: Any) -> DeniedReport:
    args: dict[str, Any] = {"role_arn": ROLE_ARN, "key_arns": [KEY_ARN], "since": SINCE, "until": NOW}
    args.update(kwargs)
    return denied_calls(trail.client(), **args)


def no_three_within_a_second(trail: Trail) -> None:
    at = sorted(r.at for r in trail.state.requests)
    for first, third in zip(at, at[2:], strict=False):
        assert third - first >= 1.0, f"three LookupEvents requests within {third - first:.3f} s"


# ------------------------------------------------------------------------------------------ what is found
def test_denied_calls_of_the_role_are_grouped_by_source_address(trail: Trail) -> None:
    trail.state.events = [
        kms_event(at=ago(50), name="Decrypt", source_ip="198.51.100.7", error_code="AccessDenied"),
        kms_event(at=ago(40), name="DescribeKey", source_ip="198.51.100.7", error_code="AccessDenied"),
        kms_event(at=ago(30), name="Decrypt", source_ip="198.51.100.7", error_code="AccessDeniedException"),
        kms_event(at=ago(20), name="Encrypt", source_ip="203.0.113.9", error_code="AccessDenied"),
        kms_event(at=ago(10), name="Encrypt", source_ip="203.0.113.9", error_code="AccessDenied"),
        kms_event(at=ago(5), name="Encrypt", source_ip="203.0.113.9"),  # allowed: not a denial
    ]
    report = check(trail)
    assert report.complete and report.notes == ()
    first, second = report.groups
    assert (first.origin_kind, first.origin, first.count) == ("ip", "198.51.100.7", 3)
    assert first.actions == ("kms:Decrypt", "kms:DescribeKey")
    assert first.error_codes == ("AccessDenied", "AccessDeniedException")
    assert (first.first_seen, first.last_seen) == (ago(50), ago(30))
    assert first.key_ids == (KEY_ARN,)
    assert first.access_denied and not first.key_state
    assert "is not authorized to perform: kms:Decrypt" in first.messages[0]
    assert (second.origin, second.count, second.actions) == ("203.0.113.9", 2, ("kms:Encrypt",))
    assert (second.first_seen, second.last_seen) == (ago(20), ago(10))


def test_privatelink_calls_are_grouped_by_vpc_endpoint_not_by_private_address(trail: Trail) -> None:
    vpce = "vpce-0a1b2c3d4e5f67890"
    trail.state.events = [
        kms_event(at=ago(30), source_ip="10.0.1.23", vpce=vpce, error_code="AccessDenied"),
        kms_event(at=ago(20), name="DescribeKey", source_ip="10.0.2.45", vpce=vpce, error_code="AccessDenied"),
        kms_event(at=ago(10), source_ip="198.51.100.7", error_code="AccessDenied"),
    ]
    groups = {g.origin: g for g in check(trail).groups}
    assert set(groups) == {vpce, "198.51.100.7"}
    endpoint = groups[vpce]
    assert (endpoint.origin_kind, endpoint.count) == ("vpc-endpoint", 2)
    assert endpoint.source_ips == ("10.0.1.23", "10.0.2.45")
    assert endpoint.actions == ("kms:Decrypt", "kms:DescribeKey")
    assert groups["198.51.100.7"].source_ips == ()


def test_other_principals_and_successful_calls_are_never_reported(trail: Trail) -> None:
    denied = "AccessDenied"
    trail.state.events = [
        kms_event(at=ago(60), role_arn="arn:aws:iam::123456789012:role/someone-else", error_code=denied),
        # The same role name in another account is another role.
        kms_event(at=ago(55), role_arn="arn:aws:iam::210987654321:role/atlas-kms-role-prod", error_code=denied),
        kms_event(at=ago(50), identity="user", error_code=denied),
        kms_event(at=ago(45), identity="service", error_code=denied),
        kms_event(at=ago(40)),  # the role, allowed
        kms_event(at=ago(35), name="DescribeKey"),  # the role, allowed
        kms_event(at=ago(30), error_code="InvalidCiphertextException"),  # failed, but not a refusal
        kms_event(at=ago(25), name="GenerateDataKey", error_code=denied),  # not an action Atlas uses
        kms_event(at=ago(20), source_ip="192.0.2.44", error_code=denied),  # the one that counts
    ]
    report = check(trail)
    assert [(g.origin, g.count) for g in report.groups] == [("192.0.2.44", 1)]
    assert report.notes == ()


def test_key_state_errors_are_reported_as_such(trail: Trail) -> None:
    trail.state.events = [
        kms_event(at=ago(30), error_code="DisabledException", key_in_request=False),  # key only in resources
        kms_event(at=ago(20), name="Encrypt", error_code="KMSInvalidStateException"),
        kms_event(at=ago(10), name="DescribeKey", error_code="NotFoundException"),
    ]
    (group,) = check(trail).groups
    assert group.count == 3 and group.key_state and not group.access_denied
    assert group.error_codes == ("DisabledException", "KMSInvalidStateException", "NotFoundException")
    assert group.key_ids == (KEY_ARN,)
    assert group.actions == ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt")


def test_the_role_is_matched_by_account_and_name_whatever_its_path(trail: Trail) -> None:
    trail.state.events = [kms_event(at=ago(10), role_arn="arn:aws:iam::123456789012:role/atlas/atlas-kms-role-prod",
                                    error_code="AccessDenied")]
    assert [g.count for g in check(trail).groups] == [1]


def test_a_role_whose_name_has_capitals_is_matched_whatever_case_either_side_spells(trail: Trail) -> None:
    # IAM role names are unique "not distinguished by case": the stack's role may be named with capitals.
    role = "arn:aws:iam::123456789012:role/Atlas-KMS-Role-Prod"
    trail.state.events = [
        kms_event(at=ago(20), role_arn=role, source_ip="198.51.100.7", error_code="AccessDenied"),
        kms_event(at=ago(10), role_arn=role.lower(), source_ip="203.0.113.9", error_code="AccessDenied"),
        kms_event(at=ago(5), role_arn="arn:aws:iam::123456789012:role/Atlas-KMS-Role-Staging", error_code="AccessDenied"),
    ]
    for asked in (role, role.lower()):
        report = check(trail, role_arn=asked)
        assert sorted((g.origin, g.count) for g in report.groups) == [("198.51.100.7", 1), ("203.0.113.9", 1)]


def test_a_foreign_key_is_looked_up_in_the_callers_account_with_the_key_arn(trail: Trail) -> None:
    # Cross-account denials are logged only in the caller's (the role's) account: the stand-in plays it.
    trail.state.events = [kms_event(at=ago(10), key_arn=FOREIGN_KEY, error_code="AccessDenied")]
    (group,) = check(trail, key_arns=[FOREIGN_KEY]).groups
    assert group.key_ids == (FOREIGN_KEY,)
    (request,) = trail.state.accepted
    assert request.body["LookupAttributes"] == [{"AttributeKey": "ResourceName", "AttributeValue": FOREIGN_KEY}]


# ------------------------------------------------------------------------------------ how it is looked up
def test_one_resource_name_attribute_per_key_and_paging_across_more_than_50_events(trail: Trail) -> None:
    trail.state.events = [kms_event(at=ago(1 + i), error_code="AccessDenied") for i in range(120)]
    trail.state.events += [kms_event(at=ago(3), key_arn=OTHER_KEY, error_code="AccessDenied")]  # not asked for
    trail.state.events += [kms_event(at=NOW - timedelta(hours=7), error_code="AccessDenied"),  # before `since`
                           kms_event(at=NOW + timedelta(minutes=1), error_code="AccessDenied")]  # after `until`
    report = check(trail)
    assert [g.count for g in report.groups] == [120]
    assert report.requests == 3
    bodies = [r.body for r in trail.state.accepted]
    assert len(bodies) == 3
    for body in bodies:
        assert body["LookupAttributes"] == [{"AttributeKey": "ResourceName", "AttributeValue": KEY_ARN}]
        assert body["MaxResults"] == 50
        assert (body["StartTime"], body["EndTime"]) == (SINCE.timestamp(), NOW.timestamp())
    assert "NextToken" not in bodies[0] and all("NextToken" in b for b in bodies[1:])
    no_three_within_a_second(trail)


def test_event_name_lookup_makes_one_chain_per_action_and_sees_any_key(trail: Trail) -> None:
    trail.state.events = [
        kms_event(at=ago(10), key_arn=OTHER_KEY, error_code="AccessDenied"),
        kms_event(at=ago(9), name="Encrypt", error_code="AccessDenied"),
        kms_event(at=ago(8), name="DescribeKey", role_arn="arn:aws:iam::123456789012:role/other", error_code="AccessDenied"),
    ]
    report = check(trail, lookup="event-name")
    (group,) = report.groups
    assert group.count == 2 and group.key_ids == tuple(sorted((KEY_ARN, OTHER_KEY)))
    assert [r.body["LookupAttributes"] for r in trail.state.accepted] == [
        [{"AttributeKey": "EventName", "AttributeValue": name}] for name in ("Decrypt", "DescribeKey", "Encrypt")]


def test_the_client_never_exceeds_two_requests_per_second_even_from_two_threads(trail: Trail) -> None:
    # Two stacks checked concurrently against one account and region share the process-wide throttle.
    trail.state.events = [kms_event(at=ago(1 + i), error_code="AccessDenied") for i in range(60)]
    trail.state.events += [kms_event(at=ago(2), key_arn=OTHER_KEY, error_code="AccessDenied")]
    reports: list[DeniedReport] = []
    client = trail.client()  # one client shared by both threads, as a CLI checking stacks concurrently might

    def run(keys: list[str]) -> None:
        reports.append(denied_calls(client, role_arn=ROLE_ARN, key_arns=keys, since=SINCE, until=NOW))

    threads = [threading.Thread(target=run, args=([KEY_ARN],)), threading.Thread(target=run, args=([OTHER_KEY],))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted((sum(g.count for g in r.groups), r.requests) for r in reports) == [(1, 1), (60, 2)]
    assert trail.state.codes() == ["", "", ""]  # never throttled: the real throttle kept us under the limit
    no_three_within_a_second(trail)


def test_a_throttling_exception_is_retried_with_backoff(trail: Trail) -> None:
    trail.state.events = [kms_event(at=ago(5), error_code="AccessDenied")]
    trail.state.faults = ["ThrottlingException"]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    report = check(trail, sleep=sleep)
    assert trail.state.codes() == ["ThrottlingException", ""]
    assert report.requests == 2 and report.notes == ()
    assert [g.count for g in report.groups] == [1]
    assert slept and max(slept) >= 0.45  # the 0.5 s first backoff, imposed through the throttle


class FakeTime:
    """An injected clock and sleep: a sleep only moves the clock, and every wait is recorded."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def test_the_waits_after_throttling_double_up_to_the_cap(trail: Trail) -> None:
    trail.state.rate_limit = None  # only the injected faults throttle: the waits are the client's own
    trail.state.events = [kms_event(at=ago(5), error_code="AccessDenied")]
    trail.state.faults = ["ThrottlingException"] * 5
    fake = FakeTime()
    report = check(trail, sleep=fake.sleep, clock=fake.clock, attempts=6, backoff=1.0, backoff_cap=8.0)
    assert trail.state.codes() == ["ThrottlingException"] * 5 + [""]
    assert fake.waits == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert report.requests == 6 and report.notes == () and [g.count for g in report.groups] == [1]


def test_by_default_a_throttled_lookup_waits_half_a_second_doubling_for_five_attempts_in_all(trail: Trail) -> None:
    trail.state.rate_limit = None
    trail.state.faults = ["ThrottlingException"] * 10
    fake = FakeTime()
    report = check(trail, sleep=fake.sleep, clock=fake.clock)
    assert trail.state.codes() == ["ThrottlingException"] * 5
    # The first retry waits the rate limit's spacing (0.55 s), longer than the first backoff of 0.5 s.
    assert fake.waits == pytest.approx([0.55, 1.0, 2.0, 4.0])
    (note,) = report.notes
    assert "kept throttling" in note and "after 5 attempts" in note


def test_botocores_own_retries_are_paced_by_the_throttle_too(trail: Trail) -> None:
    # A client built without cloudtrail_client(): botocore retries ThrottlingException by itself
    # (botocore/data/_retry.json); the slot is taken in `before-send`, so those retries are paced as well.
    trail.state.events = [kms_event(at=ago(5), error_code="AccessDenied")]
    trail.state.faults = ["ThrottlingException"]
    client = boto3.client("cloudtrail", region_name=REGION, endpoint_url=trail.url)
    report = denied_calls(client, role_arn=ROLE_ARN, key_arns=[KEY_ARN], since=SINCE, until=NOW, throttle=Throttle())
    assert trail.state.codes() == ["ThrottlingException", ""]
    assert report.requests == 2 and [g.count for g in report.groups] == [1]
    assert trail.state.requests[1].at - trail.state.requests[0].at >= 0.5


class CountingThrottle(Throttle):
    def __init__(self) -> None:
        super().__init__()
        self.taken = 0

    def acquire(self) -> float:
        self.taken += 1
        return super().acquire()


def test_the_pacing_hook_is_removed_from_the_callers_client(trail: Trail) -> None:
    trail.state.rate_limit = None  # the last call below is deliberately unpaced
    client = trail.client()
    first, second = CountingThrottle(), CountingThrottle()
    denied_calls(client, role_arn=ROLE_ARN, key_arns=[KEY_ARN], since=SINCE, until=NOW, throttle=first)
    denied_calls(client, role_arn=ROLE_ARN, key_arns=[KEY_ARN], since=SINCE, until=NOW, throttle=second)
    client.lookup_events(MaxResults=1)  # after both runs: nobody's throttle is consulted any more
    assert (first.taken, second.taken) == (1, 1)


def test_throttling_that_does_not_stop_is_a_bounded_note(trail: Trail) -> None:
    trail.state.faults = ["ThrottlingException"] * 10
    report = check(trail, attempts=3, backoff=0.01)
    assert report.requests == 3 and len(trail.state.requests) == 3
    assert report.groups == ()
    (note,) = report.notes
    assert "kept throttling" in note and KEY_ARN in note and not report.complete


def test_access_denied_on_lookup_events_is_a_note_naming_what_was_not_checked(trail: Trail) -> None:
    trail.state.events = [kms_event(at=ago(5), error_code="AccessDenied")]
    trail.state.faults = ["AccessDeniedException"]
    report = check(trail, key_arns=[KEY_ARN, OTHER_KEY])
    assert report.groups == () and report.requests == 1  # the same credentials would be refused again
    (note,) = report.notes
    assert "AccessDeniedException" in note and "cloudtrail:LookupEvents" in note
    assert KEY_ARN in note and OTHER_KEY in note


def test_an_unreachable_endpoint_is_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free, and nobody listens once closed
    client = cloudtrail_client(boto3.session.Session(), REGION, endpoint_url=f"http://127.0.0.1:{port}", timeout=2)
    report = denied_calls(client, role_arn=ROLE_ARN, key_arns=[KEY_ARN], since=SINCE, until=NOW,
                          throttle=Throttle())
    assert report.groups == () and report.requests == 1
    (note,) = report.notes
    assert "could not be reached" in note and KEY_ARN in note


def test_a_key_in_another_region_is_a_note_not_a_silent_nothing(trail: Trail) -> None:
    elsewhere = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    report = check(trail, key_arns=[elsewhere])
    assert report.requests == 0
    (note,) = report.notes
    assert "us-east-1" in note and "eu-west-2" in note


def test_the_delivery_lag_and_the_90_day_history_are_stated(trail: Trail) -> None:
    report = check(trail, since=NOW - timedelta(days=120), until=None, now=lambda: NOW)
    assert report.visible_until == NOW - DELIVERY_LAG
    assert "about 5 minutes" in report.caveat
    (note,) = report.notes
    assert "90 days" in note
    (request,) = trail.state.accepted
    assert request.body["StartTime"] == (NOW - timedelta(days=90)).timestamp()


def test_groups_and_report_turn_into_json_findings(trail: Trail) -> None:
    trail.state.events = [kms_event(at=ago(10), error_code="AccessDenied")]
    report = check(trail)
    data = json.loads(json.dumps(report.to_json()))
    (group,) = data["groups"]
    assert group == {"originKind": "ip", "origin": "198.51.100.7", "count": 1, "actions": ["kms:Decrypt"],
                     "errorCodes": ["AccessDenied"], "firstSeen": ago(10).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "lastSeen": ago(10).strftime("%Y-%m-%dT%H:%M:%SZ"), "keyIds": [KEY_ARN], "sourceIps": [],
                     "messages": group["messages"], "keyState": False}
    assert report.groups[0].line().startswith("denied  198.51.100.7  1 call(s) kms:Decrypt refused (AccessDenied)")


def test_throttle_spaces_reservations_and_honours_hold_off() -> None:
    now = [100.0]
    waits: list[float] = []
    throttle = Throttle(clock=lambda: now[0], sleep=waits.append)
    assert [round(throttle.acquire(), 3) for _ in range(3)] == [0.0, 0.55, 1.1]  # 2/s with a 10 % margin
    now[0] = 110.0
    throttle.hold_off(4.0)
    assert throttle.acquire() == 4.0
    assert shared_throttle("123456789012", "eu-west-2") is shared_throttle("123456789012", "eu-west-2")
    assert shared_throttle("123456789012", "eu-west-2") is not shared_throttle("123456789012", "us-east-1")


# ------------------------------------------------------------------------ the stand-in is not a yes-machine
def signed_post(url: str, body: bytes, *, target: str = TARGET, content_type: str = CONTENT_TYPE,
                secret: str | None = "testing") -> tuple[int, dict[str, Any]]:
    request = AWSRequest(method="POST", url=url + "/", data=body,
                         headers={"X-Amz-Target": target, "Content-Type": content_type})
    if secret is not None:
        SigV4Auth(Credentials("testing", secret), "cloudtrail", REGION).add_auth(request)
    raw = urllib.request.Request(url + "/", data=body, headers=dict(request.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(raw, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_standin_refuses_what_the_model_or_the_service_rules_forbid(trail: Trail) -> None:
    trail.state.rate_limit = None  # one refusal after another, without tripping the rate limit
    attr = {"AttributeKey": "ResourceName", "AttributeValue": KEY_ARN}

    def code_of(**params: Any) -> str:
        client = trail.client(parameter_validation=False)
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            client.lookup_events(**params)
        return str(exc.value.response["Error"]["Code"])

    # Valid for botocore's client-side validation (the list has no max, ParamValidator checks no max)...
    assert code_of(LookupAttributes=[attr, {"AttributeKey": "EventName", "AttributeValue": "Decrypt"}]) \
        == "InvalidLookupAttributesException"
    assert code_of(MaxResults=51) == "InvalidMaxResultsException"
    # ...and what only the service checks, sent with botocore's validation off.
    assert code_of(MaxResults=0) == "InvalidMaxResultsException"
    assert code_of(LookupAttributes=[{"AttributeKey": "KeyArn", "AttributeValue": KEY_ARN}]) \
        == "InvalidLookupAttributesException"
    assert code_of(LookupAttributes=[{"AttributeKey": "EventName"}]) == "InvalidLookupAttributesException"
    assert code_of(EventCategory="management") == "InvalidEventCategoryException"
    assert code_of(StartTime=NOW, EndTime=NOW - timedelta(hours=1)) == "InvalidTimeRangeException"

    # Raw bodies botocore would never send, correctly signed so that only the body is at fault.
    assert signed_post(trail.url, b'{"Bogus": 1}')[1]["__type"] == "ValidationException"
    assert signed_post(trail.url, b'{"MaxResults": "ten"}')[1]["__type"] == "SerializationException"
    assert signed_post(trail.url, b'{"StartTime": "yesterday"}')[1]["__type"] == "SerializationException"
    assert signed_post(trail.url, b"not json")[1]["__type"] == "SerializationException"
    assert signed_post(trail.url, b"{}", target="com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvent")[1][
        "__type"] == "UnknownOperationException"
    assert signed_post(trail.url, b"{}", content_type="application/json")[1]["__type"] == "SerializationException"
    assert signed_post(trail.url, b"{}", secret=None)[1]["__type"] == "MissingAuthenticationTokenException"
    assert signed_post(trail.url, b"{}", secret="wrong")[0] == 403

    # A NextToken only goes with the parameters it was issued for.
    trail.state.events = [kms_event(at=ago(1 + i)) for i in range(51)]
    client = trail.client()
    token = client.lookup_events(LookupAttributes=[attr])["NextToken"]
    assert code_of(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Decrypt"}], NextToken=token) \
        == "InvalidNextTokenException"
    assert code_of(NextToken="garbage") == "InvalidNextTokenException"

    # Positive control: a correct request is served (and nothing above was).
    page = client.lookup_events(LookupAttributes=[attr], NextToken=token)
    assert len(page["Events"]) == 1 and "NextToken" not in page
    assert [r.status for r in trail.state.requests].count(200) == 2


def test_standin_refuses_to_serve_a_response_botocore_could_not_read(trail: Trail) -> None:
    broken = kms_event(at=ago(1), error_code="AccessDenied")
    broken["ReadOnly"] = True  # the model says Event.ReadOnly is a String ("true"), not a boolean
    trail.state.events = [broken]
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        trail.client().lookup_events()
    assert exc.value.response["Error"]["Code"] == "InternalFailure"
    assert trail.state.refused_responses and "ReadOnly" in trail.state.refused_responses[0]
    # denied_calls reports it as what it could not check, never as a verdict.
    time.sleep(0.6)
    report = check(trail, throttle=Throttle())
    assert report.groups == () and "InternalFailure" in report.notes[0]


def test_standin_enforces_two_requests_per_second(trail: Trail) -> None:
    client = trail.client()
    client.lookup_events()
    client.lookup_events()
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client.lookup_events()
    assert exc.value.response["Error"]["Code"] == "ThrottlingException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert trail.state.codes() == ["", "", "ThrottlingException"]

