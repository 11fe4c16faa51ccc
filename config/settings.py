"""Stack config -> one validated, typed Settings object (core/settings.py). Pure code: no Pulumi import.

`__main__.py` reads the raw config and calls `parse_settings`; the drift command
does the same from a `Pulumi.<stack>.yaml` file. Every problem is reported at once,
each naming its config key, the problem and the fix, before any resource exists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from core.arns import (
    PARTITIONS,
    ArnError,
    KeyArn,
    RoleArn,
    atlas_key_region_problem,
    atlas_partition,
    is_account,
    is_region,
    parse_key_arn,
    parse_role_arn,
    partition_of,
    partition_of_arn,
)
from core.atlas_regions import ATLAS_AWS_REGIONS
from core.ips import CLOUDS, AddressError, SourceSelection, check_source, collapse, is_wide, to_network
from core.settings import (
    MAX_KEY_GENERATION,
    NAMESPACE,
    NETWORKS,
    ROTATION_PERIOD_DEFAULT_DAYS,
    ROTATION_PERIOD_MAX_DAYS,
    ROTATION_PERIOD_MIN_DAYS,
    Adoption,
    Alerts,
    KeyAccount,
    Settings,
)

# Stands for a value kept encrypted in a stack file (`secure:`), which only the Pulumi engine can read:
# the offline preview and the drift command know it is set, not what it is.
SECRET_IN_STACK_FILE = "<secret in the stack file>"

KNOWN_KEYS = ("projectId", "keyArn", "keyRegion", "keyAccount", "sourceIps", "enabledForSearchNodes", "alerts",
              "retainedKeyArns", "keyGeneration", "retiredKeyGenerations", "rotationPeriodInDays",
              "network", "privateEndpointRegions", "privateEndpointIds", "adopt")
_VPCE_ID = re.compile(r"^vpce-[0-9a-f]{8,17}$")
ALERTS_KEYS = ("enabled", "emails", "roles", "webhookUrl")
# Atlas project roles an alert can notify (Atlas Admin API v2, notifications[].roles).
PROJECT_ROLES = ("GROUP_OWNER", "GROUP_BACKUP_MANAGER", "GROUP_CLUSTER_MANAGER", "GROUP_DATA_ACCESS_ADMIN",
                 "GROUP_DATA_ACCESS_READ_ONLY", "GROUP_DATA_ACCESS_READ_WRITE", "GROUP_DATABASE_ACCESS_ADMIN",
                 "GROUP_OBSERVABILITY_VIEWER", "GROUP_READ_ONLY", "GROUP_SEARCH_INDEX_EDITOR",
                 "GROUP_STREAM_PROCESSING_OWNER")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ADOPT_KEYS = ("roleArn", "moveFrom")
KEY_ACCOUNT_KEYS = ("assumeRoleArn", "profile", "region", "externalId", "manageKeyPolicy", "keyPolicyGranted")
SOURCE_IPS_KEYS = ("controlPlane", "clusters", "includeFuture", "extraCidrs", "allowWideCidrs", "enforce")
# The mongodbatlas provider's setting that selects Atlas for Government; read here to check partitions.
ATLAS_GOV_SETTING = "mongodbatlas:isMongodbgovCloud"

_PROJECT_ID = re.compile(r"^[a-f0-9]{24}$")
# Atlas cluster names: ASCII letters, digits and hyphens, at most 64 characters.
_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")


class SettingsError(ValueError):
    """One or more invalid config values; `problems` lists each, naming its key."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "atlas-kms stack config is invalid; nothing was changed:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


def _decode(value: Any, key: str, problems: list[str]) -> Any:
    """Pulumi hands config values over as strings (objects as JSON); stack files as YAML."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            problems.append(f"{key}: is set but empty; remove it (`pulumi config rm {key}`) or give a value")
            return None
        if text[0] in "{[" or text in ("true", "false"):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append(f"{key}: not valid JSON ({exc.msg}); set it with `pulumi config set --path` or valid JSON")
                return None
    return value


def _bool(value: Any, key: str, default: bool, problems: list[str]) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    problems.append(f"{key}: expected true or false, got {value!r}")
    return default


def _unknown(obj: Mapping[str, Any], allowed: tuple[str, ...], key: str, problems: list[str]) -> None:
    for name in sorted(set(obj) - set(allowed)):
        problems.append(f"{key}.{name}: unknown setting; allowed: {', '.join(allowed)}")


def _str_list(value: Any, key: str, problems: list[str]) -> list[str] | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{key}: expected a list of strings, got {value!r}")
        return None
    return list(value)


def _int(value: Any, key: str, default: int, low: int, high: int, problems: list[str]) -> int:
    """A whole number within [low, high]: YAML gives an int, `pulumi config set` a string."""
    if value is None:
        return default
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    if number is None or not low <= number <= high:
        problems.append(f"{key}: expected a whole number from {low} to {high}, got {value!r}")
        return default
    return number


def _parse_retained(raw: Any, problems: list[str]) -> tuple[KeyArn, ...]:
    key = f"{NAMESPACE}:retainedKeyArns"
    if raw is None:
        return ()
    entries = _str_list(raw, key, problems)
    found: list[KeyArn] = []
    for i, entry in enumerate(entries or []):
        try:
            arn = parse_key_arn(entry, f"{key}[{i}]")
        except ArnError as exc:
            problems.append(str(exc))
            continue
        if arn in found:
            problems.append(f"{key}[{i}]: {arn} is listed twice; remove one")
            continue
        found.append(arn)
    return tuple(found)


def _parse_generations(raw: Any, generation: int, creates: bool, problems: list[str]) -> tuple[int, ...]:
    key = f"{NAMESPACE}:retiredKeyGenerations"
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(g, int) and not isinstance(g, bool) for g in raw):
        problems.append(f"{key}: expected a list of whole numbers (earlier values of {NAMESPACE}:keyGeneration), got {raw!r}")
        return ()
    bad = [g for g in raw if g < 1 or g > MAX_KEY_GENERATION]
    if bad:
        problems.append(f"{key}: {bad} are not key generations (1 to {MAX_KEY_GENERATION})")
    if len(set(raw)) != len(raw):
        problems.append(f"{key}: {raw} lists a generation twice")
    if creates and generation in raw:
        problems.append(f"{key}: generation {generation} is {NAMESPACE}:keyGeneration, the key Atlas is to use; "
                        f"only earlier generations can be retired (raise keyGeneration first)")
    return tuple(sorted(set(raw)))


def _parse_network(raw: dict[str, Any], key_arn: KeyArn | None, key_region: str, problems: list[str]
                   ) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    key = f"{NAMESPACE}:network"
    network = raw.get("network", "public")
    if network not in NETWORKS:
        problems.append(f"{key}: {network!r} is not one of {', '.join(NETWORKS)}; use public (Atlas's addresses), private "
                        "(AWS PrivateLink only) or both (while moving between them)")
        network = "public"
    regions_key, ids_key = f"{NAMESPACE}:privateEndpointRegions", f"{NAMESPACE}:privateEndpointIds"
    raw_regions = _decode(raw.get("privateEndpointRegions"), regions_key, problems)
    raw_ids = _decode(raw.get("privateEndpointIds"), ids_key, problems)
    if network == "public" and raw_regions is not None:
        problems.append(f"{regions_key}: only with {key} private or both; remove it, or set {key}")
    regions: list[str] = []
    for i, entry in enumerate(_str_list(raw_regions, regions_key, problems) or [] if raw_regions is not None else []):
        if network == "public":
            break
        enum = ATLAS_AWS_REGIONS.get(entry, entry)
        if enum not in ATLAS_AWS_REGIONS.values():
            problems.append(f"{regions_key}[{i}]: {entry!r} is not an AWS region Atlas knows (like eu-west-2 or EU_WEST_2)")
        elif enum in regions:
            problems.append(f"{regions_key}[{i}]: {entry!r} is listed twice (Atlas has one endpoint per region)")
        else:
            regions.append(enum)
    own = ATLAS_AWS_REGIONS.get(key_region, "")
    if not regions and own and network != "public":
        regions = [own]
    multi_region = key_arn is not None and key_arn.key_id.startswith("mrk-")
    for enum in regions:
        if enum != own and not multi_region:
            problems.append(
                f"{regions_key}: {enum} is not the key's region ({key_region}); an endpoint there reaches the key "
                f"only through a replica of a multi-region key: give {NAMESPACE}:keyArn of a multi-region key (mrk-...) "
                "replicated to that region, or remove the region (this program creates single-region keys)")
    # Kept with network public too: while the private path is left (two runs), its grant stays pinned.
    ids: list[str] = []
    for i, entry in enumerate(_str_list(raw_ids, ids_key, problems) or [] if raw_ids is not None else []):
        if not _VPCE_ID.fullmatch(entry):
            problems.append(f"{ids_key}[{i}]: {entry!r} is not a VPC endpoint id (vpce- and 8 to 17 hex characters)")
        elif entry in ids:
            problems.append(f"{ids_key}[{i}]: {entry} is listed twice")
        else:
            ids.append(entry)
    return network, tuple(sorted(regions)), tuple(sorted(ids))


def _parse_control_plane(raw: Mapping[str, Any], key: str, problems: list[str]) -> tuple[str, ...] | Literal["all"]:
    control_plane: tuple[str, ...] | Literal["all"] = "all"
    cp = raw.get("controlPlane", "all")
    if isinstance(cp, str) and cp != "all":
        problems.append(f"{key}.controlPlane: {cp!r} is not \"all\" or a list; use \"all\" (MongoDB's advice) or a list of {', '.join(CLOUDS)}, like [{cp}]" if cp in CLOUDS
                        else f"{key}.controlPlane: {cp!r} is neither \"all\" nor a list of clouds; use \"all\" or a list of {', '.join(CLOUDS)}")
    elif cp != "all":
        clouds = _str_list(cp, f"{key}.controlPlane", problems)
        if clouds is not None:
            bad = [c for c in clouds if c not in CLOUDS]
            if bad:
                problems.append(f"{key}.controlPlane: unknown cloud(s) {bad}; use \"all\" or a list of {', '.join(CLOUDS)}")
            elif not clouds:
                problems.append(f"{key}.controlPlane: an empty list would allow no control-plane address; use \"all\"")
            elif len(set(clouds)) != len(clouds):
                problems.append(f"{key}.controlPlane: {clouds} lists a cloud twice; list each cloud once, like {sorted(set(clouds))}")
            else:
                control_plane = tuple(sorted(clouds))

    return control_plane


def _parse_clusters(raw: Mapping[str, Any], key: str, problems: list[str]) -> tuple[str, ...] | Literal["all"]:
    clusters: tuple[str, ...] | Literal["all"] = "all"
    cl = raw.get("clusters", "all")
    if cl != "all":
        names = _str_list(cl, f"{key}.clusters", problems)
        if names is not None:
            bad = [n for n in names if not _CLUSTER_NAME.fullmatch(n)]
            if bad:
                problems.append(f"{key}.clusters: {bad} are not Atlas cluster names (letters, digits, hyphens; at most 64)")
            elif len(set(names)) != len(names):
                problems.append(f"{key}.clusters: {names} lists a cluster twice")
            else:
                clusters = tuple(sorted(names))

    return clusters


def _parse_extra_cidrs(raw: Mapping[str, Any], key: str, allow_wide: bool, problems: list[str]) -> tuple[str, ...]:
    extra: tuple[str, ...] = ()
    if "extraCidrs" in raw:
        entries = _str_list(raw["extraCidrs"], f"{key}.extraCidrs", problems)
        if entries is not None:
            for i, entry in enumerate(entries):
                where = f"{key}.extraCidrs[{i}]"
                try:
                    check_source(to_network(entry, where), where, allow_wide=allow_wide,
                                 wide_fix=f"or set {key}.allowWideCidrs: true if you really mean it")
                except AddressError as exc:
                    problems.append(str(exc))
            extra = tuple(entries)
            try:
                merged = collapse([to_network(e, "") for e in entries])
            except AddressError:
                merged = []  # each bad entry is reported above
            for cidr in merged if not allow_wide else []:
                if is_wide(cidr) and cidr not in entries:
                    problems.append(f"{key}.extraCidrs: the entries merge into {cidr}, wider than /16 (IPv6 /48), which "
                                    f"all but removes the source-IP condition; narrow them, or set {key}.allowWideCidrs: true")
    return extra


def _parse_source_ips(raw: Any, problems: list[str]) -> tuple[SourceSelection, bool]:
    key = f"{NAMESPACE}:sourceIps"
    default = SourceSelection()
    if raw is None:
        return default, True
    if not isinstance(raw, Mapping):
        problems.append(f"{key}: expected an object like {{\"controlPlane\": \"all\", \"clusters\": \"all\"}}, got {raw!r}")
        return default, True
    _unknown(raw, SOURCE_IPS_KEYS, key, problems)

    control_plane = _parse_control_plane(raw, key, problems)
    clusters = _parse_clusters(raw, key, problems)
    include_future = _bool(raw.get("includeFuture"), f"{key}.includeFuture", True, problems)
    enforce = _bool(raw.get("enforce"), f"{key}.enforce", True, problems)
    allow_wide = _bool(raw.get("allowWideCidrs"), f"{key}.allowWideCidrs", False, problems)

    extra = _parse_extra_cidrs(raw, key, allow_wide, problems)
    return SourceSelection(control_plane, clusters, include_future, extra, allow_wide), enforce


def _parse_alerts(raw: Any, problems: list[str]) -> Alerts:
    key = f"{NAMESPACE}:alerts"
    if raw is None:
        return Alerts()
    if not isinstance(raw, Mapping):
        # The value is not printed: it may be the webhook URL, set as a secret.
        problems.append(f"{key}: expected an object like {{\"emails\": [\"dba@example.com\"]}}, got a {type(raw).__name__}")
        return Alerts()
    _unknown(raw, ALERTS_KEYS, key, problems)
    enabled = _bool(raw.get("enabled"), f"{key}.enabled", True, problems)
    emails: tuple[str, ...] = ()
    if raw.get("emails") is not None:
        found = _str_list(raw["emails"], f"{key}.emails", problems) or []
        bad = [e for e in found if not _EMAIL.fullmatch(e)]
        if bad:
            problems.append(f"{key}.emails: {bad} are not e-mail addresses")
        emails = tuple(found)
    roles: tuple[str, ...] | None = None
    if raw.get("roles") is not None:
        found = _str_list(raw["roles"], f"{key}.roles", problems) or []
        bad = [r for r in found if r not in PROJECT_ROLES]
        if bad:
            problems.append(f"{key}.roles: {bad} are not Atlas project roles; use some of {', '.join(PROJECT_ROLES)}")
        roles = tuple(found)
    webhook = raw.get("webhookUrl")
    if webhook is not None and webhook != SECRET_IN_STACK_FILE and (not isinstance(webhook, str) or not webhook.startswith("https://")):
        problems.append(f"{key}.webhookUrl: expected an https:// URL; set it as a secret: "
                        f"pulumi config set --secret --path '{key}.webhookUrl' https://...")
        webhook = None
    if roles is None:
        # Default: the project owners hear it, unless the stack names other recipients.
        roles = () if (emails or webhook) else ("GROUP_OWNER",)
    if enabled and not (emails or roles or webhook):
        problems.append(f"{key}: no recipient; give emails, roles or webhookUrl, or set {key}.enabled: false")
    return Alerts(enabled=enabled, emails=emails, roles=roles, webhook_url=webhook)


def _parse_adopt(raw: Any, role_account: str | None, problems: list[str]) -> Adoption | None:
    """`adopt`: exactly one of roleArn (take the role over) or moveFrom (a new role; the old one is left)."""
    key = f"{NAMESPACE}:adopt"
    if raw is None:
        return None
    example = '{"roleArn": "arn:aws:iam::111122223333:role/atlas-encryption"}'
    if not isinstance(raw, Mapping):
        problems.append(f"{key}: expected an object like {example}, got {raw!r}")
        return None
    _unknown(raw, ADOPT_KEYS, key, problems)
    given = [name for name in ADOPT_KEYS if raw.get(name) is not None]
    if len(given) != 1:
        problems.append(f"{key}: give exactly one of roleArn (take over the IAM role Atlas uses) or moveFrom (make this "
                        f"stack's own role and move Atlas to it), like {example}")
        return None
    name = given[0]
    try:
        role = parse_role_arn(raw[name], f"{key}.{name}")
    except ArnError as exc:
        problems.append(str(exc))
        return None
    if name == "roleArn" and role_account is not None and role.account != role_account:
        problems.append(f"{key}.roleArn: the role is in account {role.account}, the stack's credentials in {role_account}; "
                        f"a role is imported with the credentials of its own account: run with those, or use {key}.moveFrom")
    return Adoption(role_arn=role) if name == "roleArn" else Adoption(move_from=role)


def _parse_key_account(raw: Any, problems: list[str]) -> KeyAccount | None:
    key = f"{NAMESPACE}:keyAccount"
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        problems.append(f"{key}: expected an object like {{\"assumeRoleArn\": \"arn:aws:iam::111122223333:role/kms-admin\"}}, got {raw!r}")
        return None
    _unknown(raw, KEY_ACCOUNT_KEYS, key, problems)
    role: RoleArn | None = None
    if raw.get("assumeRoleArn") is not None:
        try:
            role = parse_role_arn(raw["assumeRoleArn"], f"{key}.assumeRoleArn")
        except ArnError as exc:
            problems.append(str(exc))
    for name in ("profile", "externalId", "region"):
        if raw.get(name) is not None and not isinstance(raw[name], str):
            problems.append(f"{key}.{name}: expected a string, got {raw[name]!r}")
    region = raw.get("region")
    if isinstance(region, str) and not is_region(region):
        problems.append(f"{key}.region: {region!r} is not an AWS region name (like eu-west-2)")
    ext = raw.get("externalId")
    if isinstance(ext, str) and not _EXTERNAL_ID.fullmatch(ext):
        problems.append(f"{key}.externalId: 2 to 1224 characters of letters, digits and +=,.@:/-_")
    manage = _bool(raw.get("manageKeyPolicy"), f"{key}.manageKeyPolicy", False, problems)
    granted = _bool(raw.get("keyPolicyGranted"), f"{key}.keyPolicyGranted", False, problems)
    return KeyAccount(
        assume_role_arn=raw.get("assumeRoleArn") if role else None,
        account_id=role.account if role else "",
        profile=raw.get("profile") if isinstance(raw.get("profile"), str) else None,
        region=region if isinstance(region, str) else None,
        external_id=ext if isinstance(ext, str) else None,
        manage_key_policy=manage,
        key_policy_granted=granted,
    )


def _namespaced(config: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    """The `atlas-kms:*` settings by their short names; an unknown one is a problem named as written."""
    raw: dict[str, Any] = {}
    for name, value in config.items():
        short = name.split(":", 1)[1] if name.startswith(f"{NAMESPACE}:") else name
        if ":" in short:
            continue  # another namespace (aws:, mongodbatlas:, ...)
        raw[short] = value
    for name in sorted(set(raw) - set(KNOWN_KEYS)):
        problems.append(f"{NAMESPACE}:{name}: unknown setting; allowed: {', '.join(KNOWN_KEYS)}")

    return raw


def _parse_project(raw: Mapping[str, Any], problems: list[str]) -> Any:
    project_id = raw.get("projectId")
    if project_id is None:
        problems.append(f"{NAMESPACE}:projectId: required; set it with `pulumi config set {NAMESPACE}:projectId <24-hex Atlas project id>`")
    elif isinstance(project_id, int | float) and not isinstance(project_id, bool):
        problems.append(f"{NAMESPACE}:projectId: YAML read {project_id!r} as a number; quote the id in the stack file, like atlas-kms:projectId: \"{project_id}\" (Atlas project ids are 24 hex characters)")
    elif not isinstance(project_id, str) or not _PROJECT_ID.fullmatch(project_id):
        problems.append(f"{NAMESPACE}:projectId: {project_id!r} is not an Atlas project id (24 lowercase hex characters, from the project's Settings page)")

    return project_id


def _check_identity(aws_region: str | None, role_account: str | None, region_pending: bool, problems: list[str]) -> None:
    if aws_region is None:
        if not region_pending:
            problems.append("aws:region: required (the role's region and the default key region); `pulumi config set aws:region eu-west-2`")
    elif not is_region(aws_region):
        problems.append(f"aws:region: {aws_region!r} is not an AWS region name (like eu-west-2)")
    if role_account is not None and not is_account(role_account):
        problems.append(f"aws credentials: account id {role_account!r} is not 12 digits")



def _key_region(key_arn: KeyArn | None, key_region_setting: str | None, key_account: KeyAccount | None,
                aws_region: str | None, problems: list[str]) -> tuple[str, str]:
    """(the key's region, the setting it came from), from wherever it is stated; every statement must agree."""
    stated = [
        (f"{NAMESPACE}:keyArn", key_arn.region if key_arn else None),
        (f"{NAMESPACE}:keyRegion", key_region_setting),
        (f"{NAMESPACE}:keyAccount.region", key_account.region if key_account else None),
    ]
    given = [(k, r) for k, r in stated if r]
    key_region = given[0][1] if given else (aws_region or "")
    # The setting the key region came from, so that an error blames what the user actually wrote.
    region_source = given[0][0] if given else "aws:region"
    for k, r in given[1:]:
        if r != key_region:
            problems.append(f"{k}: region {r!r} disagrees with {given[0][0]} ({key_region!r}); the key lives in one region, make them equal or drop one")

    return key_region, region_source


def _check_partitions(*, role_partition: str | None, aws_region: str | None, gov: bool, key_arn: KeyArn | None,
                      key_region: str, region_source: str, retained: tuple[KeyArn, ...],
                      problems: list[str]) -> tuple[str, bool]:
    """(the role's partition, whether it is known yet): Atlas's principal, the role and the keys must share it."""
    partition = role_partition or partition_of(aws_region or "us-east-1")
    # Without a region or credentials yet, the partition is unknown: those checks wait for them.
    partition_known = role_partition is not None or aws_region is not None
    if role_partition is not None and role_partition not in PARTITIONS:
        problems.append(f"aws credentials: unknown partition {role_partition!r}")
    # Atlas's principal assumes the role, and IAM never lets a principal cross partitions.
    atlas_part = atlas_partition(gov)
    partition_clash = partition_known and partition in PARTITIONS and partition != atlas_part
    if partition_clash:
        where = "the AWS credentials' partition" if role_partition else f"aws:region {aws_region!r}"
        if gov:
            problems.append(f"{ATLAS_GOV_SETTING} (the component's isMongodbgovCloud input): true means Atlas for Government, whose principal is in partition {atlas_part!r}, but the role is in {partition!r} ({where}); use GovCloud credentials and region, or set {ATLAS_GOV_SETTING}: false")
        else:
            problems.append(f"{ATLAS_GOV_SETTING} (the component's isMongodbgovCloud input): commercial Atlas (not set, or false) assumes roles from partition {atlas_part!r}, but the role is in {partition!r} ({where}); a role cannot be assumed across partitions: use credentials and a region of {atlas_part!r}, or set {ATLAS_GOV_SETTING}: true for Atlas for Government")
    if not partition_known:
        pass
    elif key_arn and key_arn.partition != partition:
        problems.append(f"{NAMESPACE}:keyArn: partition {key_arn.partition!r} differs from the role's partition {partition!r}; a key and a role in different partitions cannot work together")
    elif key_region and is_region(key_region) and partition_of(key_region) != partition:
        problems.append(f"{region_source}: region {key_region!r} is in partition {partition_of(key_region)!r}, the role in {partition!r}; pick a region of the role's partition")
    elif key_region and is_region(key_region) and not partition_clash:
        why = atlas_key_region_problem(key_region, gov)
        if why:
            problems.append(f"{region_source}: the key's region {why}; put the key in a region Atlas supports")

    for i, arn in enumerate(retained):
        if partition_known and arn.partition != partition:
            problems.append(f"{NAMESPACE}:retainedKeyArns[{i}]: partition {arn.partition!r} differs from the role's "
                            f"partition {partition!r}; Atlas's role cannot use a key in another partition")

    return partition, partition_known


def _check_key_account(key_account: KeyAccount | None, key_arn: KeyArn | None, role_account: str | None,
                       partition: str, partition_known: bool, problems: list[str]) -> None:
    if key_account is None:
        return
    k = f"{NAMESPACE}:keyAccount"
    if key_account.assume_role_arn:
        role_partition_of_assume = partition_of_arn(key_account.assume_role_arn)
        if partition_known and role_partition_of_assume != partition:
            problems.append(f"{k}.assumeRoleArn: partition {role_partition_of_assume!r} differs from the role's partition {partition!r}")
        if role_account is not None and key_account.account_id == role_account:
            problems.append(f"{k}.assumeRoleArn: account {role_account} is the role's own account, so nothing is cross-account; remove {k} (and set keyRegion if you need another region)")
        if key_arn and key_arn.account != key_account.account_id:
            problems.append(f"{k}.assumeRoleArn: account {key_account.account_id} does not hold the key {key_arn} (account {key_arn.account}); assume a role in the key's account")
    elif key_arn is None:
        problems.append(f"{k}.assumeRoleArn: required to create the key in another account; give a role in that account that can create KMS keys, or set {NAMESPACE}:keyArn to use an existing key")
    if key_account.manage_key_policy:
        if key_arn is None:
            problems.append(f"{k}.manageKeyPolicy: only for an existing key ({NAMESPACE}:keyArn); a key this program creates always gets its policy managed")
        elif not key_account.assume_role_arn:
            problems.append(f"{k}.manageKeyPolicy: needs {k}.assumeRoleArn in the key's account to write its key policy")
    if key_account.key_policy_granted and (key_arn is None or key_account.manage_key_policy):
        problems.append(f"{k}.keyPolicyGranted: only for an existing key in another account whose policy its owner edits; remove it")
    if key_arn and role_account is not None and key_arn.account == role_account:
        problems.append(f"{k}: the key {key_arn} is in the role's own account {role_account}, so nothing is cross-account; remove {k}")
    if key_account.external_id and not key_account.assume_role_arn:
        problems.append(f"{k}.externalId: only used with {k}.assumeRoleArn")



def _parse_key(raw: Mapping[str, Any], problems: list[str]) -> tuple[KeyArn | None, str | None]:
    """(keyArn, keyRegion) as given."""
    key_arn: KeyArn | None = None
    if raw.get("keyArn") is not None:
        try:
            key_arn = parse_key_arn(raw["keyArn"], f"{NAMESPACE}:keyArn")
        except ArnError as exc:
            problems.append(str(exc))
    key_region_setting = raw.get("keyRegion")
    if key_region_setting is not None and (not isinstance(key_region_setting, str) or not is_region(key_region_setting)):
        problems.append(f"{NAMESPACE}:keyRegion: {key_region_setting!r} is not an AWS region name (like eu-west-2)")
        key_region_setting = None
    return key_arn, key_region_setting


def _parse_lifecycle(raw: Mapping[str, Any], key_arn: KeyArn | None, problems: list[str]
                     ) -> tuple[tuple[KeyArn, ...], int, tuple[int, ...], int]:
    """(retainedKeyArns, keyGeneration, retiredKeyGenerations, rotationPeriodInDays): the key's life."""
    retained = _parse_retained(_decode(raw.get("retainedKeyArns"), f"{NAMESPACE}:retainedKeyArns", problems), problems)
    generation = _int(raw.get("keyGeneration"), f"{NAMESPACE}:keyGeneration", 1, 1, MAX_KEY_GENERATION, problems)
    retired = _parse_generations(_decode(raw.get("retiredKeyGenerations"), f"{NAMESPACE}:retiredKeyGenerations", problems),
                                 generation, key_arn is None and raw.get("keyArn") is None, problems)
    rotation = _int(raw.get("rotationPeriodInDays"), f"{NAMESPACE}:rotationPeriodInDays", ROTATION_PERIOD_DEFAULT_DAYS,
                    ROTATION_PERIOD_MIN_DAYS, ROTATION_PERIOD_MAX_DAYS, problems)
    if raw.get("rotationPeriodInDays") is not None and raw.get("keyArn") is not None:
        problems.append(f"{NAMESPACE}:rotationPeriodInDays: only for keys this program creates; an existing key's "
                        f"rotation is set by its owner (remove it, or remove {NAMESPACE}:keyArn)")
    if key_arn is not None and key_arn in retained:
        problems.append(f"{NAMESPACE}:retainedKeyArns: {key_arn} is {NAMESPACE}:keyArn, the key Atlas is to use; a "
                        "retained key is one Atlas no longer uses but snapshots still need: remove it from the list")
    return retained, generation, retired, rotation


def parse_settings(
    config: Mapping[str, Any],
    *,
    stack: str,
    aws_region: str | None,
    role_account: str | None = None,
    role_partition: str | None = None,
    atlas_gov: Any = None,
    region_pending: bool = False,
) -> Settings:
    """Validate the `atlas-kms:*` config (keys with or without the namespace prefix).

    `aws_region` is the role provider's `aws:region`; `role_account` and
    `role_partition` describe the credentials' account (from sts:GetCallerIdentity)
    when known, and decide whether an existing key is in another account. `atlas_gov` is
    the mongodbatlas provider's `isMongodbgovCloud` setting, as configured. `region_pending`: the
    role's region is not known yet (the component asks the AWS provider next), so this pass checks
    everything that does not depend on it.
    """
    problems: list[str] = []
    raw = _namespaced(config, problems)
    project_id = _parse_project(raw, problems)
    _check_identity(aws_region, role_account, region_pending, problems)

    key_arn, key_region_setting = _parse_key(raw, problems)

    key_account = _parse_key_account(_decode(raw.get("keyAccount"), f"{NAMESPACE}:keyAccount", problems), problems)
    adopt = _parse_adopt(_decode(raw.get("adopt"), f"{NAMESPACE}:adopt", problems), role_account, problems)
    selection, enforce_ip = _parse_source_ips(_decode(raw.get("sourceIps"), f"{NAMESPACE}:sourceIps", problems), problems)

    alerts = _parse_alerts(_decode(raw.get("alerts"), f"{NAMESPACE}:alerts", problems), problems)
    search_nodes = _bool(_decode(raw.get("enabledForSearchNodes"), f"{NAMESPACE}:enabledForSearchNodes", problems),
                         f"{NAMESPACE}:enabledForSearchNodes", True, problems)
    gov = _bool(_decode(atlas_gov, ATLAS_GOV_SETTING, problems), ATLAS_GOV_SETTING, False, problems)
    retained, generation, retired, rotation = _parse_lifecycle(raw, key_arn, problems)

    key_region, region_source = _key_region(key_arn, key_region_setting, key_account, aws_region, problems)
    network, endpoint_regions, endpoint_ids = _parse_network(raw, key_arn, key_region, problems)
    partition, partition_known = _check_partitions(
        role_partition=role_partition, aws_region=aws_region, gov=gov, key_arn=key_arn, key_region=key_region,
        region_source=region_source, retained=retained, problems=problems)
    _check_key_account(key_account, key_arn, role_account, partition, partition_known, problems)

    if problems:
        raise SettingsError(problems)
    assert isinstance(project_id, str)
    aws_region = aws_region or ""
    return Settings(
        project_id=project_id, stack=stack, role_region=aws_region, role_account=role_account, partition=partition,
        key_region=key_region, key_arn=key_arn, key_account=key_account, selection=selection, enforce_ip=enforce_ip,
        atlas_gov=gov, enabled_for_search_nodes=search_nodes, alerts=alerts, retained_key_arns=retained,
        key_generation=generation, retired_generations=retired, rotation_period_days=rotation, network=network,
        private_endpoint_regions=endpoint_regions, private_endpoint_ids=endpoint_ids, adopt=adopt,
    )
