"""Atlas's own alarms on the key, created by default, checked against the provider's arguments."""

from __future__ import annotations

import json
from typing import Any

import pytest

import offline.preview as preview
from config.settings import SettingsError, parse_settings
from config.stackfile import read_stack_config
from offline.harness import ROOT, ProgramRun, run_program
from offline.model import ALERT, ATLAS_EVENT_TYPES, ProviderError, ProviderModel, is_secret, reveal

EVENTS = {"ENCRYPTION_AT_REST_KMS_NETWORK_ACCESS_DENIED", "ENCRYPTION_AT_REST_CONFIG_NO_LONGER_VALID", "AWS_ENCRYPTION_KEY_INVALID",
          "AWS_ENCRYPTION_KEY_NEEDS_ROTATION"}
ROTATION = "AWS_ENCRYPTION_KEY_NEEDS_ROTATION"
HOOK = "https://hooks.example.com/atlas/T0K3N"


def run(alerts: Any = None, stack: str = "same-account") -> ProgramRun:
    cfg = read_stack_config(ROOT / "samples" / "stacks" / f"Pulumi.{stack}.yaml")
    if alerts is not None:
        cfg["atlas-kms:alerts"] = json.dumps(alerts)
    return run_program(cfg, stack=stack)


@pytest.mark.parametrize("stack", ["same-account", "foreign-key"])
def test_by_default_the_project_owners_hear_each_key_event(stack: str) -> None:
    alerts = run(stack=stack).of_type(ALERT)
    assert {a.inputs["eventType"] for a in alerts} == EVENTS
    for a in alerts:
        assert a.inputs["projectId"] == "6f1e2d3c4b5a697887766554" and a.inputs["enabled"] is True
        assert a.inputs["notifications"] == [
            {"typeName": "GROUP", "roles": ["GROUP_OWNER"], "emailEnabled": True, "intervalMin": 60, "delayMin": 0}]


@pytest.mark.parametrize(("stack", "overrides", "days"), [
    ("same-account", {}, 365),
    ("same-account", {"atlas-kms:rotationPeriodInDays": "180"}, 180),
    ("existing-key", {}, 90),
])
def test_atlas_rotation_reminder_follows_what_the_key_really_does(stack: str, overrides: dict[str, str], days: int) -> None:
    cfg = read_stack_config(ROOT / "samples" / "stacks" / f"Pulumi.{stack}.yaml")
    r = run_program({**cfg, **overrides}, stack=stack)
    [reminder] = [a for a in r.of_type(ALERT) if a.inputs["eventType"] == ROTATION]
    assert reminder.inputs["thresholdConfig"] == {"operator": "GREATER_THAN", "threshold": days, "units": "DAYS"}
    keys = r.of_type("aws:kms/key:Key")
    assert [k.inputs["rotationPeriodInDays"] for k in keys] == ([days] if stack == "same-account" else [])


def test_named_recipients_replace_the_default_and_the_webhook_stays_secret() -> None:
    r = run({"emails": ["dba@example.com"], "webhookUrl": HOOK})
    for a in r.of_type(ALERT):
        # One secret inside the list makes the SDK send the whole list as a secret.
        assert is_secret(a.inputs["notifications"])
        email, hook = reveal(a.inputs["notifications"])
        assert email == {"typeName": "EMAIL", "emailAddress": "dba@example.com", "intervalMin": 60, "delayMin": 0}
        assert hook == {"typeName": "WEBHOOK", "webhookUrl": HOOK, "intervalMin": 60, "delayMin": 0}
    assert HOOK not in preview.render(r, "same-account")


def test_roles_and_emails_together() -> None:
    [a, *_] = run({"roles": ["GROUP_OWNER", "GROUP_CLUSTER_MANAGER"], "emails": ["ops@example.com"]}).of_type(ALERT)
    assert [n["typeName"] for n in a.inputs["notifications"]] == ["GROUP", "EMAIL"]
    assert a.inputs["notifications"][0]["roles"] == ["GROUP_OWNER", "GROUP_CLUSTER_MANAGER"]


def test_a_stack_setting_turns_them_off() -> None:
    assert run({"enabled": False}).of_type(ALERT) == []


@pytest.mark.parametrize(("alerts", "says"), [
    ({"emails": ["not-an-address"]}, "atlas-kms:alerts.emails: ['not-an-address'] are not e-mail addresses"),
    ({"roles": ["OWNER"]}, "atlas-kms:alerts.roles: ['OWNER'] are not Atlas project roles"),
    ({"webhookUrl": "http://insecure.example.com"}, "atlas-kms:alerts.webhookUrl: expected an https:// URL"),
    ({"roles": []}, "atlas-kms:alerts: no recipient"),
    ({"pager": "x"}, "atlas-kms:alerts.pager: unknown setting"),
])
def test_bad_alert_settings_name_the_key_and_the_fix(alerts: dict[str, Any], says: str) -> None:
    with pytest.raises(SettingsError) as err:
        parse_settings({"atlas-kms:projectId": "6f1e2d3c4b5a697887766554", "atlas-kms:alerts": alerts},
                       stack="prod", aws_region="eu-west-2")
    assert any(p.startswith(says) for p in err.value.problems), err.value.problems


def test_the_webhook_url_never_shows_in_the_settings_repr() -> None:
    s = parse_settings({"atlas-kms:projectId": "6f1e2d3c4b5a697887766554", "atlas-kms:alerts": {"webhookUrl": HOOK}},
                       stack="prod", aws_region="eu-west-2")
    assert s.alerts.webhook_url == HOOK and HOOK not in repr(s)


def test_atlas_refuses_an_event_type_or_notification_it_does_not_know() -> None:
    model = ProviderModel()
    assert EVENTS <= ATLAS_EVENT_TYPES
    with pytest.raises(ProviderError, match="INVALID_EVENT_TYPE_FOR_ALERT"):
        model.create(ALERT, "a", {"eventType": "KMS_KEY_BLOCKED", "notifications": []}, "", [], lambda _: None)
    with pytest.raises(ProviderError, match="INVALID_NOTIFICATION_TYPE"):
        model.create(ALERT, "a", {"eventType": "AWS_ENCRYPTION_KEY_INVALID", "notifications": [{"typeName": "PIGEON"}]},
                     "", [], lambda _: None)
