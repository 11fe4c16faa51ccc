"""What the real providers and Atlas do, modelled for the mock runtime: the one place for it.

The mock runtime accepts anything and returns whatever the mocks say, so a mock that echoes its
inputs proves only that the program agrees with itself. `ProviderModel` answers the way the real
pulumi-aws 7 and pulumi-mongodbatlas 4 providers (bridged from the Terraform providers) and Atlas do.
Every behaviour below names its source; each has a test that fails when it is removed
(tests/test_offline_model.py).

- Secrets: `aws_kms_config` of `EncryptionAtRest` comes back secret (the key ARN, access key id
  and secret key inside are `Sensitive` in the provider schema; the bridge marks sensitive values
  secret, and in Python one secret inside an object makes the whole Output secret).
  pulumi-mongodbatlas sdk/dotnet/Inputs/EncryptionAtRestAwsKmsConfigArgs.cs.
- Normalisation on read: `aws.kms.KeyPolicy` stores the bare key id in `keyId`, whatever was sent
  (terraform-provider-aws internal/service/kms/key_policy.go; issues #31297, #46432).
- Defaults the provider sends: `EncryptionAtRest.enabledForSearchNodes` is `false` when omitted
  (terraform-provider-mongodbatlas internal/service/encryptionatrest/resource.go).
- Atlas's answers: its AWS principal is in `aws` for commercial Atlas and in `aws-us-gov` for Atlas
  for Government; `valid` is Atlas's own verdict and can be false; a region outside Atlas's enum is
  refused (400 INVALID_ENUM_VALUE); an alert configuration with an event type Atlas does not know is
  refused (400 INVALID_EVENT_TYPE_FOR_ALERT).
- Failures Atlas really returns: it assumes the role the moment the authorization is created, and a
  role IAM has not propagated yet cannot be assumed (CANNOT_ASSUME_ROLE; the provider retries only
  briefly; terraform-provider-mongodbatlas issue #409). Modelled: the authorization fails unless it
  waits on a `time.Sleep` of at least MIN_PROPAGATION_SECONDS armed by that role (a wait armed by
  another role does not count).
- Computed on read: a key with rotation on reads back KMS's default period, 365 days
  (terraform-provider-aws internal/service/kms/key.go: rotation_period_in_days Optional+Computed).
- Replacements (`pulumi up --replace`, `World.replace`): the provider creates the resource anew, with
  new physical ids (a role gets a new name and ARN).
- The preview diff (`changes`): the bridged providers diff inputs against the stored state property by
  property, nested objects included; a nested field the program stopped setting is a change, one the
  provider computes (`valid`) is not.
- Imports (`import_`, pulumi >= 3.174, pulumi/pulumi PR 19339): the engine reads the existing object,
  then diffs it against the program like any other resource; an in-place difference is an update in the
  same run, one that needs a replacement (REPLACE_ON below, or the program's replaceOnChanges) is an error
  in `up` ("previously-imported resources that still specify an ID may not be replaced"). Import ids:
  the role's name, `{projectId}-AWS-{roleId}` for the setup, the project id for encryption at rest
  (provider docs). A missing object fails the import. (tests/test_takeover.py)
- Auto-naming: a role and an inline policy without `name` get the resource's name and 7 random
  characters (pulumi-aws autonaming); with `name`, exactly that name.
The lookups (`offline/harness.py`, World) answer from what exists as the real data sources would: the
stack's state and what was made outside it (`World.unmanaged`: by hand, by Terraform; offline/worlds.py).
`get_encryption_at_rest` what was last applied (a new project: every field empty), `get_alias` a stored
alias or the provider's "empty result" error, `get_role` a role with its tags or "couldn't find resource",
`get_cloud_provider_access_setup` an Atlas role's principal and external id; the Atlas Admin API's
`cloudProviderAccess` (no data source reads it) through the Atlas stand-in, from the same world.
The engine between two runs is `offline/simulator.py`, tested in the same file and in
tests/test_transitions.py and tests/test_takeover.py: imports, what exists outside the state (never
deleted), resources left marked for deletion by a stopped update (deleted at the end of the next one,
pulumi >= 3.46, PR 11027), exclusive policy ownership acting when written, and updates that stop part way.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pulumi.runtime import rpc

from core.arns import account_of
from core.atlas_regions import ATLAS_AWS_REGIONS

# Types, as the engine names them.
KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/policy:Policy"
AWS_PROVIDER = "pulumi:providers:aws"
SLEEP = "time:index/sleep:Sleep"
SETUP = "mongodbatlas:index/cloudProviderAccessSetup:CloudProviderAccessSetup"
AUTH = "mongodbatlas:index/cloudProviderAccessAuthorization:CloudProviderAccessAuthorization"
EAR = "mongodbatlas:index/encryptionAtRest:EncryptionAtRest"
ALERT = "mongodbatlas:index/alertConfiguration:AlertConfiguration"
ENDPOINT = "mongodbatlas:index/encryptionAtRestPrivateEndpoint:EncryptionAtRestPrivateEndpoint"
ATTACH = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
INLINE = "aws:iam/rolePolicy:RolePolicy"
ATTACH_EXCLUSIVE = "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive"
INLINE_EXCLUSIVE = "aws:iam/rolePoliciesExclusive:RolePoliciesExclusive"

# Properties whose change makes the provider replace the resource (ForceNew / RequiresReplace):
# terraform-provider-aws internal/service/kms/key.go (and the region CustomizeDiff of pulumi-aws 7),
# kms/alias.go, iam/role.go, iam/policy.go, iam/role_policy_attachment.go, iam/role_policy.go;
# terraform-provider-mongodbatlas encryptionatrest/resource.go, cloudprovideraccess/*.go,
# alertconfiguration/resource.go; terraform-provider-time resource_time_sleep.go.
REPLACE_ON: dict[str, frozenset[str]] = {
    KEY: frozenset({"customerMasterKeySpec", "keyUsage", "multiRegion", "customKeyStoreId", "xksKeyId", "region"}),
    ALIAS: frozenset({"name", "namePrefix", "region"}),
    KEY_POLICY: frozenset({"region"}),
    ROLE: frozenset({"name", "namePrefix", "path"}),
    POLICY: frozenset({"name", "namePrefix", "path", "description"}),
    ATTACH: frozenset({"role", "policyArn"}),
    INLINE: frozenset({"name", "namePrefix", "role"}),
    SETUP: frozenset({"providerName"}),
    AUTH: frozenset({"projectId", "roleId"}),
    EAR: frozenset({"projectId"}),
    "mongodbatlas:index/alertConfiguration:AlertConfiguration": frozenset({"projectId"}),
    "time:index/sleep:Sleep": frozenset({"triggers"}),
    # No RequiresReplace; the program replaces on change (its update only copies timeouts).
    ENDPOINT: frozenset(),
}

# Atlas's AWS principal, per Atlas. The commercial account is the one Atlas's docs and the
# cloudProviderAccess API show; Atlas for Government's account number is not in our sources, so the
# model fixes only what matters here, its partition, and marks the number as a placeholder.
ATLAS_PRINCIPALS = {
    False: "arn:aws:iam::536727724300:root",
    True: "arn:aws-us-gov:iam::000000000000:root",
}
# IAM propagation commonly takes 10-30 s (provider-facts.md); a shorter wait is modelled as none.
MIN_PROPAGATION_SECONDS = 10
# Event types Atlas accepts for project alerts that matter here (Atlas Admin API v2 spec enums).
ATLAS_EVENT_TYPES = frozenset({
    "ENCRYPTION_AT_REST_KMS_NETWORK_ACCESS_DENIED",
    "ENCRYPTION_AT_REST_CONFIG_NO_LONGER_VALID",
    "AWS_ENCRYPTION_KEY_INVALID",
    "AWS_ENCRYPTION_KEY_NEEDS_ROTATION",
    "ENCRYPTION_AT_REST_KMS_NETWORK_ACCESS_RESTORED",
    "AWS_ENCRYPTION_KEY_VALID",
})
# Notification types of mongodbatlas.AlertConfiguration (provider docs, `notification.type_name`).
ATLAS_NOTIFICATION_TYPES = frozenset({"EMAIL", "WEBHOOK", "GROUP", "ORG", "USER", "TEAM", "SMS", "SLACK",
                                      "PAGER_DUTY", "OPS_GENIE", "VICTOR_OPS", "DATADOG", "MICROSOFT_TEAMS"})

# What the provider marks secret in a resource's state (seen from Python: the whole object).
SECRET_STATE = {EAR: ("awsKmsConfig",)}
# Fields `Sensitive` in the provider schema: the engine holds them as secrets in inputs too, so
# `pulumi preview` prints them as [secret].
SENSITIVE_INPUTS = {EAR: {"awsKmsConfig": ("customerMasterKeyId", "accessKeyId", "secretAccessKey")}}


class ProviderError(Exception):
    """An error the real provider or Atlas returns; the registration fails with it."""


# KMS's default automatic rotation period, which the provider reads back into state when the program
# does not set one (terraform-provider-aws internal/service/kms/key.go: rotation_period_in_days is
# Optional+Computed; https://docs.aws.amazon.com/kms/latest/developerguide/rotating-keys-enable.html).
DEFAULT_ROTATION_PERIOD_DAYS = 365


def alias_not_found_error(name: str) -> ProviderError:
    """The AWS provider's error for an alias that does not exist (data source aws_kms_alias)."""
    # terraform-provider-aws internal/service/kms/alias_data_source.go: "reading KMS Alias (%s): %s" with
    # tfresource.EmptyResultError ("empty result"), wrapped by the engine and the SDK.
    return ProviderError(f"invocation of aws:kms/getAlias:getAlias returned an error: reading KMS Alias ({name}): empty result")


def secret(value: Any) -> dict[str, Any]:
    """A value as the engine carries a secret."""
    return {rpc._special_sig_key: rpc._special_secret_sig, "value": value}


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def reveal(value: Any) -> Any:
    """The plain value, with every secret wrapper removed (to compare, never to show)."""
    if is_secret(value):
        return reveal(value["value"])
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def as_engine_holds(typ: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs with the schema's sensitive fields marked secret, as the engine shows them."""
    out = dict(inputs)
    for key, fields in SENSITIVE_INPUTS.get(typ, {}).items():
        value = out.get(key)
        if isinstance(value, dict) and not is_secret(value):
            out[key] = {k: secret(v) if k in fields and not is_secret(v) else v for k, v in value.items()}
    return out


def contains_secret(value: Any) -> bool:
    if is_secret(value):
        return True
    if isinstance(value, dict):
        return any(contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_secret(v) for v in value)
    return False


def _stable_id(*parts: str, length: int = 24) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _seconds(duration: Any) -> float:
    """A Go duration as the time provider takes it ("30s", "1m30s")."""
    total, found = 0.0, False
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(h|m|s)", str(duration or "")):
        total += float(amount) * {"h": 3600, "m": 60, "s": 1}[unit]
        found = True
    return total if found else 0.0


@dataclass
class Seen:
    """A resource the model has answered for, with the dependencies the engine received."""

    type: str
    name: str
    inputs: dict[str, Any]
    state: dict[str, Any]
    dependencies: list[str]
    urn: str = ""


@dataclass
class ProviderModel:
    """Answers resource registrations as the providers would, and remembers them."""

    partition: str = "aws"
    atlas_gov: bool = False
    # Atlas's verdict on the key (aws_kms_config.valid): it checks on change and every 15 minutes.
    key_valid: bool = True
    # Atlas's answer for a KMS private endpoint, by Atlas region: (status, errorMessage); ACTIVE by default.
    endpoint_status: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # What a previous run left in the state, by (type, name): an existing resource keeps its id and
    # computed outputs, as the engine would pass them on an update.
    stored: Mapping[tuple[str, str], tuple[str, dict[str, Any]]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    # Resources this update replaces although the program did not change them (`pulumi up --replace`):
    # the provider creates them anew, with new physical ids.
    replace: frozenset[tuple[str, str]] = frozenset()
    # Every id and ARN the model made up, so that a preview can mark them as placeholders.
    placeholders: set[str] = field(default_factory=set)
    provider_accounts: dict[str, str] = field(default_factory=dict)
    # What exists in the cloud outside the stack's state (made by hand or by another tool), by (type, a
    # name of its own): the objects `import_` reads.
    unmanaged: Mapping[tuple[str, str], tuple[str, dict[str, Any]]] = field(default_factory=dict)

    def _seed(self, typ: str, name: str) -> str:
        """What a physical id is derived from: a replacement gets new ones, as the provider's create does."""
        return f"{name}#replacement" if (typ, name) in self.replace else name

    def _made_up(self, *values: str) -> None:
        self.placeholders.update(values)

    def create(self, typ: str, name: str, inputs: dict[str, Any], account: str,
               dependencies: list[str], urn_of: Callable[[str], Seen | None], import_id: str = "",
               replace_on_changes: Sequence[str] = ()) -> tuple[str, dict[str, Any]]:
        plain = reveal(inputs)
        handler = self._HANDLERS.get(typ)
        if import_id and (typ, name) not in self.stored:
            id_, state = self._import(typ, name, inputs, plain, import_id, replace_on_changes)
        elif (typ, name) in self.stored and (typ, name) not in self.replace:
            id_, old = self.stored[(typ, name)]
            state = {**old, **inputs}
            id_, state = id_, self._normalise(typ, state, plain)
        elif handler is not None:
            id_, state = handler(self, name, inputs, plain, account, dependencies, urn_of)
        else:
            id_, state = f"{name}-id", dict(inputs)
            self._made_up(id_)
        self.seen.append(Seen(typ, name, dict(inputs), state, list(dependencies)))
        return id_, state

    def _import(self, typ: str, name: str, inputs: dict[str, Any], plain: dict[str, Any], import_id: str,
                replace_on_changes: Sequence[str]) -> tuple[str, dict[str, Any]]:
        """The engine's import (pulumi >= 3.174, PR 19339): read the object, then diff it against the
        program like any other resource. An in-place difference is an update in the same run; one that
        needs a replacement is an error in `up` (pulumi/pulumi pkg/resource/deploy/step_generator.go)."""
        found = next(((i, st) for (t, _), (i, st) in self.unmanaged.items() if t == typ and i == import_id), None)
        if found is None:
            raise ProviderError(f"importing {typ} {import_id!r}: the resource does not exist (wrong id, or another "
                                "account or region)")
        id_, read = found
        forced = REPLACE_ON.get(typ, frozenset()) | set(replace_on_changes)
        needs = sorted(p for p in plain if p in forced and p in read and differs(plain[p], reveal(read[p])))
        if needs:
            raise ProviderError(f"inputs to import do not match the existing resource {name} ({typ}, id {import_id}): "
                                f"{', '.join(needs)} would replace it, and previously-imported resources that still "
                                "specify an ID may not be replaced")
        return id_, self._normalise(typ, {**read, **inputs}, plain)

    # Normalisations and defaults: applied on create and on every read of an existing resource.
    def _normalise(self, typ: str, state: dict[str, Any], plain: dict[str, Any]) -> dict[str, Any]:
        state = dict(state)
        if typ == KEY and plain.get("enableKeyRotation"):
            state.setdefault("rotationPeriodInDays", DEFAULT_ROTATION_PERIOD_DAYS)
        if typ == KEY_POLICY:
            key_id = str(plain.get("keyId", ""))
            state["keyId"] = key_id.rsplit("key/", 1)[-1] if ":key/" in key_id else key_id
        if typ == EAR:
            state.setdefault("enabledForSearchNodes", False)
            kms = reveal(state.get("awsKmsConfig") or {})
            # Optional+Computed, read back from Atlas: false unless set (pulumi-mongodbatlas >= 3.28).
            kms.setdefault("requirePrivateNetworking", False)
            state["awsKmsConfig"] = secret({**kms, "valid": self.key_valid and bool(kms.get("enabled"))})
        for key in SECRET_STATE.get(typ, ()):
            if key in state and not is_secret(state[key]):
                state[key] = secret(state[key])
        return state

    def _provider(self, name: str, inputs: dict[str, Any], plain: dict[str, Any], account: str,
                  deps: list[str], urn_of: Callable[[str], Seen | None]) -> tuple[str, dict[str, Any]]:
        roles = plain.get("assumeRoles") or []
        if isinstance(roles, str):  # provider inputs reach the engine JSON-encoded
            roles = json.loads(roles)
        if roles:
            self.provider_accounts[name] = account_of(roles[0]["roleArn"])
        id_ = str(uuid.UUID(_stable_id(name, "provider", length=32)))
        self._made_up(id_)
        return id_, dict(inputs)

    def _key(self, name: str, inputs: dict[str, Any], plain: dict[str, Any], account: str,
             deps: list[str], urn_of: Callable[[str], Seen | None]) -> tuple[str, dict[str, Any]]:
        key_id = str(uuid.UUID(_stable_id(self._seed(KEY, name), "key", length=32)))
        arn = f"arn:{self.partition}:kms:{plain.get('region', 'us-east-1')}:{account}:key/{key_id}"
        self._made_up(key_id, arn)
        return key_id, self._normalise(KEY, {**inputs, "arn": arn, "keyId": key_id}, plain)

    def _key_policy(self, name: str, inputs: dict[str, Any], plain: dict[str, Any], account: str,
                    deps: list[str], urn_of: Callable[[str], Seen | None]) -> tuple[str, dict[str, Any]]:
        state = self._normalise(KEY_POLICY, dict(inputs), plain)
        return state["keyId"], state

    def _role(self, name: str, inputs: dict[str, Any], plain: dict[str, Any], account: str,
              deps: list[str], urn_of: Callable[[str], Seen | None]) -> tuple[str, dict[str, Any]]:
        seed = self._seed(ROLE, name)
        # pulumi-aws auto-names a role from the resource's name and 7 random characters, unless `name` is given.
        role_name = str(plain.get("name") or f"{name}-{_stable_id(seed, length=7)}")
        path = str(plain.get("path") or "/")
        arn = f"arn:{self.partition}:iam::{account}:role{path}{role_name}"
        unique = "AROA" + _stable_id(seed, length=17).upper()
        self._made_up(arn, unique, *([] if plain.get("name") else [role_name]))
        return role_name, {**inputs, "name": role_name, "path": path, "arn": arn, "uniqueId": unique}

    def _inline(self, name: str, inputs: dict[str, Any], plain: dict[str, Any], account: str,
                deps: list[str], urn_of: Callable[[str], Seen | None]) -> tuple[str, dict[str, Any]]:
        # Auto-named like a role; the provider's id is `role:name` (its import id too).
        policy_name = str(plain.get("name") or f"{name}-{_stable_id(name, length=7)}")
        self._made_up(policy_name)
        return f"{plain.get('role')}:{policy_name}", {**inputs, "name": policy_name}

    def _policy(self, name: str, inputs: dict[str, Any], plain: dict[str, Any], account: str,
                deps: list[str], urn_of: Callable[[str], Seen | None]) -> tuple[str, dict[str, Any]]:
        policy_name = f"{name}-{_stable_id(name, length=7)}"
        arn = f"arn:{self.partition}:iam::{account}:policy/{policy_name}"
        self._made_up(policy_name, arn)
        return arn, {**inputs, "name": policy_name, "arn": arn}

    def _sleep(self, name: str, inputs: dict[str, Any], plain: dict[str, Any], account: str,
               deps: list[str], urn_of: Callable[[str], Seen | None]) -> tuple[str, dict[str, Any]]:
        id_ = "2026-11-28T00:00:00Z"  # the time provider's id is the creation timestamp
        self._made_up(id_)
        return id_, dict(inputs)

    def _setup(self, name: str, inputs: dict[str, Any], plain: dict[str, Any], account: str,
               deps: list[str], urn_of: Callable[[str], Seen | None]) -> tuple[str, dict[str, Any]]:
        seed = self._seed(SETUP, name)
        role_id = _stable_id(seed, "atlas-role")
        external_id = str(uuid.UUID(_stable_id(seed, "external-id", length=32)))
        self._made_up(role_id, external_id)
        return role_id, {**inputs, "roleId": role_id, "awsConfigs": [{
            "atlasAwsAccountArn": ATLAS_PRINCIPALS[self.atlas_gov],
            "atlasAssumedRoleExternalId": external_id,
        }]}

    def _authorization(self, name: str, inputs: dict[str, Any], plain: dict[str, Any], account: str,
                       deps: list[str], urn_of: Callable[[str], Seen | None]) -> tuple[str, dict[str, Any]]:
        role_arn = str((plain.get("aws") or {}).get("iamAssumedRoleArn", ""))
        role = next((s for s in self.seen if s.type == ROLE and s.state.get("arn") == role_arn), None)
        waited = [
            s for s in filter(None, map(urn_of, deps))
            if s.type == SLEEP and _seconds(reveal(s.inputs).get("createDuration")) >= MIN_PROPAGATION_SECONDS
            and role is not None and str(role.state.get("uniqueId")) in json.dumps(reveal(s.inputs).get("triggers"))
        ]
        if role is not None and not waited:
            raise ProviderError(
                f"error creating MongoDB Cloud Provider Access: CANNOT_ASSUME_ROLE: Atlas cannot assume the role "
                f"{role_arn}: it was created moments ago and IAM has not propagated it (nothing waited for it)"
            )
        id_ = _stable_id(name, "auth")
        self._made_up(id_)
        return id_, {**inputs, "authorizedDate": "2026-11-28T00:00:00Z"}

    def _encryption(self, name: str, inputs: dict[str, Any], plain: dict[str, Any], account: str,
                    deps: list[str], urn_of: Callable[[str], Seen | None]) -> tuple[str, dict[str, Any]]:
        region = str((plain.get("awsKmsConfig") or {}).get("region", ""))
        if region not in ATLAS_AWS_REGIONS.values():
            raise ProviderError(f"error updating encryption at rest: 400 INVALID_ENUM_VALUE: region {region!r}")
        return str(plain.get("projectId", name)), self._normalise(EAR, dict(inputs), plain)

    def _endpoint(self, name: str, inputs: dict[str, Any], plain: dict[str, Any], account: str,
                  deps: list[str], urn_of: Callable[[str], Seen | None]) -> tuple[str, dict[str, Any]]:
        """Atlas creates the endpoint in its own account once requirePrivateNetworking is on; the
        provider waits for ACTIVE (or PENDING_ACCEPTANCE) and fails the create on FAILED.
        (terraform-provider-mongodbatlas encryptionatrestprivateendpoint; Atlas Admin API v2
        AWSKMSEARPrivateEndpoint.)"""
        region = str(plain.get("regionName", ""))
        if region not in ATLAS_AWS_REGIONS.values():
            raise ProviderError(f"error creating private endpoint: 400 INVALID_ENUM_VALUE: regionName {region!r}")
        ear = next((s for s in filter(None, map(urn_of, deps)) if s.type == EAR), None)
        if ear is None or not reveal(ear.state.get("awsKmsConfig") or {}).get("requirePrivateNetworking"):
            raise ProviderError("error creating private endpoint: 400 REQUIRE_PRIVATE_NETWORKING_NOT_ENABLED: "
                                "set requirePrivateNetworking on the project's encryption at rest first")
        status, error = self.endpoint_status.get(region, ("ACTIVE", ""))
        if status == "FAILED":
            raise ProviderError(f"error creating MongoDB Encryption At Rest Private Endpoint: status FAILED: {error}")
        id_ = _stable_id(name, "endpoint")
        connection = "vpce-" + _stable_id(name, "vpce", length=17)
        self._made_up(id_, connection)
        return id_, {**inputs, "id": id_, "status": status, "errorMessage": error,
                     "privateEndpointConnectionName": connection}

    def _alert(self, name: str, inputs: dict[str, Any], plain: dict[str, Any], account: str,
               deps: list[str], urn_of: Callable[[str], Seen | None]) -> tuple[str, dict[str, Any]]:
        event = plain.get("eventType")
        if event not in ATLAS_EVENT_TYPES:
            raise ProviderError(f"error creating alert configuration: 400 INVALID_EVENT_TYPE_FOR_ALERT: {event!r}")
        for n in plain.get("notifications") or []:
            if n.get("typeName") not in ATLAS_NOTIFICATION_TYPES:
                raise ProviderError(f"error creating alert configuration: 400 INVALID_NOTIFICATION_TYPE: {n.get('typeName')!r}")
        id_ = _stable_id(name, "alert")
        self._made_up(id_)
        return id_, {**inputs, "alertConfigurationId": id_}

    _HANDLERS: ClassVar[dict[str, Callable[..., tuple[str, dict[str, Any]]]]] = {
        AWS_PROVIDER: _provider,
        INLINE: _inline,
        KEY: _key,
        KEY_POLICY: _key_policy,
        ROLE: _role,
        POLICY: _policy,
        SLEEP: _sleep,
        SETUP: _setup,
        AUTH: _authorization,
        EAR: _encryption,
        ALERT: _alert,
        ENDPOINT: _endpoint,
    }


# Nested fields the provider computes, which the program never sets: absent from the inputs, they are
# no change (EncryptionAtRest aws_kms_config.valid, terraform-provider-mongodbatlas encryptionatrest).
COMPUTED_NESTED = frozenset({"valid"})


def differs(new: Any, old: Any) -> bool:
    """Inputs against stored state, as the bridged providers diff them: anything the program sets must
    equal what is stored, and a nested field the program stopped setting (a tag removed, a key dropped
    from awsKmsConfig) is a change too, unless the provider computes it."""
    if isinstance(new, dict) and isinstance(old, dict):
        removed = any(k not in new and k not in COMPUTED_NESTED and v is not None for k, v in old.items())
        return removed or any(differs(v, old.get(k)) for k, v in new.items())
    if isinstance(new, list) and isinstance(old, list):
        return len(new) != len(old) or any(differs(a, b) for a, b in zip(new, old, strict=True))
    return bool(new != old)


def changes(previous: Mapping[tuple[str, str], tuple[str, dict[str, Any]]],
            registrations: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    """What `pulumi preview` would show against a stored state: the bridged providers diff the new
    inputs against the stored (normalised) state, property by property; secrets compare by value."""
    out: list[str] = []
    current = {(t, n) for t, n, _ in registrations}
    for typ, name, inputs in registrations:
        if (typ, name) not in previous:
            out.append(f"+ {typ} {name}: create")
            continue
        _, state = previous[(typ, name)]
        for key in sorted(inputs):
            if differs(reveal(inputs[key]), reveal(state.get(key))):
                out.append(f"~ {typ} {name}: {key} {reveal(state.get(key))!r} => {reveal(inputs[key])!r}")
    out += [f"- {t} {n}: delete" for t, n in sorted(previous) if (t, n) not in current]
    return out
