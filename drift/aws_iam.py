"""Read the Atlas role's live KMS policies from IAM (boto3, standard credential chain).

boto3 honours AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_IAM) by itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

import botocore.exceptions

from core.arns import Arn
from core.errors import ReadError
from core.settings import PROGRAM, TAG_PROGRAM, TAG_PROJECT, TAG_STACK


@dataclass(frozen=True)
class LivePolicy:
    name: str
    kind: Literal["managed", "inline"]
    document: dict[str, Any]
    # A managed policy's tags, as GetPolicy returns them (inline policies have none in IAM).
    tags: dict[str, str] = field(default_factory=dict)


def _document(raw: Any) -> dict[str, Any]:
    # IAM returns policy documents URL-encoded through some SDKs, already decoded by boto3 in others.
    if isinstance(raw, dict):
        return raw
    return dict(json.loads(unquote(raw)))


RoleIndex = list[tuple[str, str, dict[str, str]]]  # (name, arn, tags)


def role_index(iam: Any) -> RoleIndex:
    """Every role with its tags, read once per run and shared by all stacks checked."""
    try:
        index: RoleIndex = []
        for page in iam.get_paginator("list_roles").paginate():
            for role in page["Roles"]:
                tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role["RoleName"])["Tags"]}
                if tags.get(TAG_PROGRAM) == PROGRAM:
                    index.append((role["RoleName"], role["Arn"], tags))
        return index
    except botocore.exceptions.BotoCoreError as exc:
        raise ReadError(f"AWS IAM: {exc}") from None
    except botocore.exceptions.ClientError as exc:
        raise ReadError(f"AWS IAM: {exc.response['Error'].get('Code')}: {exc.response['Error'].get('Message')}") from None


def find_role(index: RoleIndex, project_id: str, stack: str) -> tuple[str, str]:
    """(name, arn) of the role the program tagged for this project and stack."""
    found = [(name, arn) for name, arn, tags in index
             if tags.get(TAG_PROJECT) == project_id and tags.get(TAG_STACK) == stack]
    if not found:
        raise ReadError(f"no IAM role tagged {TAG_PROJECT}={project_id}, {TAG_STACK}={stack}: run `pulumi up` or pass --role-arn")
    if len(found) > 1:
        raise ReadError(f"{len(found)} IAM roles carry the tags of stack {stack}: pass --role-arn")
    return found[0]


def role_tags(iam: Any, role_arn: str) -> dict[str, str]:
    """The tags of one role, by one GetRole (ListRoles returns no tags)."""
    name = Arn.parse(role_arn).name
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise _iam_failure(exc, f"Atlas uses the IAM role {role_arn} for encryption at rest, but it does not exist") from None
    return {t["Key"]: t["Value"] for t in role.get("Tags") or []}


def existing_role_arn(iam: Any, role_name: str) -> str | None:
    """The ARN of the role of that name (with its path), or None when there is none (one GetRole)."""
    try:
        return str(iam.get_role(RoleName=role_name)["Role"]["Arn"])
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"].get("Code") == "NoSuchEntity":
            return None
        raise _iam_failure(exc, "") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise _iam_failure(exc, "") from None


def _iam_failure(exc: Exception, missing: str) -> ReadError:
    """An IAM error as one line; NoSuchEntity (the role is gone) as `missing`."""
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response["Error"]
        if err.get("Code") == "NoSuchEntity":
            return ReadError(missing)
        return ReadError(f"AWS IAM: {err.get('Code')}: {err.get('Message')}")
    return ReadError(f"AWS IAM: {exc}")


def key_arn_of(kms: Any, key: str) -> str | None:
    """The full ARN of a key given by alias name or key id (one DescribeKey), or None when there is none.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html (KeyId: id, ARN, alias name)
    """
    try:
        return str(kms.describe_key(KeyId=key)["KeyMetadata"]["Arn"])
    except botocore.exceptions.ClientError as exc:
        code, message = _client_error(exc)
        if code == "NotFoundException":
            return None
        raise ReadError(f"AWS KMS: {code}: {message}") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise ReadError(f"AWS KMS: {exc}") from None


def live_policies(iam: Any, role_name: str) -> list[LivePolicy]:
    try:
        policies: list[LivePolicy] = []
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name):
            for attached in page["AttachedPolicies"]:
                meta = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
                version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=meta["DefaultVersionId"])
                tags = {t["Key"]: t["Value"] for t in meta.get("Tags") or []}
                policies.append(LivePolicy(attached["PolicyName"], "managed", _document(version["PolicyVersion"]["Document"]),
                                           tags))
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=role_name):
            for name in page["PolicyNames"]:
                doc = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
                policies.append(LivePolicy(name, "inline", _document(doc)))
        return policies
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise _iam_failure(exc, f"IAM role {role_name} not found") from None


def _client_error(exc: botocore.exceptions.ClientError) -> tuple[str, str]:
    err = exc.response.get("Error", {})
    return str(err.get("Code", "")), str(err.get("Message", ""))


def read_key_policy(kms: Any, key_arn: str) -> tuple[dict[str, Any] | None, str]:
    """(the key's policy, "") or (None, why it could not be read).

    GetKeyPolicy works only with credentials of the key's own account
    (https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyPolicy.html: no cross-account use), so a
    foreign key's policy is usually unreadable here: the caller then judges the role's side alone.
    """
    try:
        raw = kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"]
        return dict(json.loads(raw)), ""
    except botocore.exceptions.ClientError as exc:
        code, message = _client_error(exc)
        return None, f"{code}: {message}" if message else code
    except botocore.exceptions.BotoCoreError as exc:
        return None, str(exc)
