"""moto (in-process) accepts every generated document through the real AWS API calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from .documents import MODES, generated


@pytest.fixture()
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    with mock_aws():
        yield


@pytest.mark.parametrize("mode", MODES)
def test_iam_accepts_the_trust_policy_and_every_role_policy(aws: None, mode: str) -> None:
    g = generated(mode)
    iam = boto3.client("iam")
    iam.create_role(RoleName="atlas", AssumeRolePolicyDocument=json.dumps(g.trust))
    for i, doc in enumerate(g.role_policies):
        if mode in ("same-account", "existing-key"):
            arn = iam.create_policy(PolicyName=f"kms-{i}", PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
            iam.attach_role_policy(RoleName="atlas", PolicyArn=arn)
        else:
            iam.put_role_policy(RoleName="atlas", PolicyName=f"kms-{i}", PolicyDocument=json.dumps(doc))
    stored: Any = iam.get_role(RoleName="atlas")["Role"]["AssumeRolePolicyDocument"]  # boto3 decodes it to a dict
    assert stored["Statement"] == g.trust["Statement"]


@pytest.mark.parametrize("mode", [m for m in MODES if generated(m).key_policy is not None])
def test_kms_accepts_the_key_policy_on_create_and_on_put(aws: None, mode: str) -> None:
    g = generated(mode)
    assert g.key_policy is not None
    kms = boto3.client("kms")
    key = kms.create_key(Policy=json.dumps(g.key_policy), KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT")
    key_id = key["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key_id)
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(g.key_policy))
    stored = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    assert stored == g.key_policy
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True


def test_iam_would_reject_a_malformed_document(aws: None) -> None:
    iam = boto3.client("iam")
    with pytest.raises(iam.exceptions.MalformedPolicyDocumentException):
        iam.create_policy(PolicyName="bad", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]}))
