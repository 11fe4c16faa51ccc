"""From IAM policy documents, the exact set of source addresses an action on one key is allowed from.

Pure, typed code: no boto3, no Pulumi. Drift compares *meaning*, not text: a hand-edited policy that
reorders actions, adds a Sid, wraps the Resource in a list or adds a Deny changes the JSON but maybe
not the addresses Atlas may call KMS from. This module computes those addresses as a `Ranges` (IPv4
and IPv6 integer intervals, core.addresses), following the IAM and KMS evaluation rules:

* IAM: an explicit Deny wins, then any Allow, else implicit deny.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
* KMS: the key policy is the primary control; it either allows the role itself or delegates to the
  role's account, whose IAM policies then decide (and across accounts both sides must allow).
  https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html

Whatever this model cannot read exactly (a condition other than IpAddress/NotIpAddress on
aws:SourceIp, a policy variable, an ambiguous NotPrincipal, a malformed element) raises
`CannotEvaluate` naming the policy, the statement and the element, rather than guessing.

Why not a library: the maintained evaluators (principalmapper's local simulation, AWS's
SimulatePrincipalPolicy) answer one request at a time, for one source address; drift needs the whole
allowed *set*, to name every missing and stale range exactly. So the set arithmetic is ours (core.addresses,
checked against `ipaddress` in tests/test_addresses.py), and the tests check this evaluation against
principalmapper's simulation and a brute-force evaluation on sampled addresses (tests/drift/test_evaluate.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

# The address sets are core.addresses' (the same type the program collapses its CIDRs with), re-exported
# here as drift.evaluate.Ranges for this package's callers.
from core.addresses import AddressSyntaxError, Ranges
from core.arns import Arn, ArnError
from core.policies import USE_ACTIONS

__all__ = [
    "USE_ACTIONS",
    "CannotEvaluate",
    "Excess",
    "KeyPolicyView",
    "Labeled",
    "Layer",
    "Ranges",
    "effective_allowed",
    "excess",
    "identity_allowed",
    "key_policy_view",
    "statements",
]


Labeled = tuple[str, dict[str, Any]]  # (policy label, policy document)

KEY_POLICY_LABEL = "key policy"  # the label key-policy statements carry in messages
Layer = Literal["role", "key policy"]


class CannotEvaluate(Exception):  # noqa: N818 - the name the drift command's callers expect
    """Part of a policy this model cannot read exactly; the message names where and what.

    `policy` is the policy's label, `statement` the statement's Sid (quoted) or its 1-based
    position, `detail` what could not be read. Both location parts are None when the problem is not
    inside a policy (a malformed ARN).
    """

    def __init__(self, detail: str, *, policy: str | None = None, statement: str | None = None) -> None:
        self.policy = policy
        self.statement = statement
        self.detail = detail
        where = []
        if policy is not None:
            where.append(f'policy "{policy}"')
        if statement is not None:
            where.append(f"statement {statement}")
        super().__init__(f"{' '.join(where)}: {detail}" if where else detail)


# --------------------------------------------------------------------------------------------------
# Reading statements
# --------------------------------------------------------------------------------------------------


def statements(policies: Iterable[Labeled]) -> list[tuple[str, int, dict[str, Any]]]:
    """Every statement as (policy label, 1-based position in its policy, statement).

    `Statement` may be one object or a list of them (both are valid IAM JSON).
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_statement.html
    """
    out: list[tuple[str, int, dict[str, Any]]] = []
    for label, document in policies:
        if not isinstance(document, dict):
            raise CannotEvaluate("the document is not a JSON object", policy=label)
        raw = document.get("Statement")
        if isinstance(raw, dict):
            items: list[Any] = [raw]
        elif isinstance(raw, list):
            items = raw
        else:
            raise CannotEvaluate("Statement must be an object or a list of objects", policy=label)
        for n, stmt in enumerate(items, 1):
            if not isinstance(stmt, dict):
                raise CannotEvaluate("is not a JSON object", policy=label, statement=str(n))
            out.append((label, n, stmt))
    return out


@dataclass(frozen=True)
class _Site:
    """Where a statement is, to name it in messages."""

    policy: str
    index: int
    stmt: dict[str, Any] = field(repr=False, compare=False)

    @property
    def sid(self) -> str:
        sid = self.stmt.get("Sid")
        return sid if isinstance(sid, str) and sid else f"#{self.index}"

    def error(self, detail: str) -> CannotEvaluate:
        sid = self.stmt.get("Sid")
        ref = f'"{sid}"' if isinstance(sid, str) and sid else str(self.index)
        return CannotEvaluate(detail, policy=self.policy, statement=ref)


def _sites(policies: Iterable[Labeled]) -> Iterator[_Site]:
    for label, n, stmt in statements(policies):
        yield _Site(label, n, stmt)


def _strings(site: _Site, element: str) -> list[str]:
    value = site.stmt[element]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise site.error(f"{element} must be a string or a list of strings, got {value!r}")


def _effect(site: _Site) -> Literal["Allow", "Deny"]:
    effect = site.stmt.get("Effect")
    if effect == "Allow":
        return "Allow"
    if effect == "Deny":
        return "Deny"
    raise site.error(f'Effect must be "Allow" or "Deny", got {effect!r}')


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    # IAM wildcards are only `*` (any run of characters, across ARN segments too) and `?` (one
    # character); everything else is literal, including `[`, which fnmatch would read as a class.
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _matches(pattern: str, value: str, *, ignore_case: bool) -> bool:
    return _wildcard(pattern, ignore_case).fullmatch(value) is not None


def _pair(site: _Site, positive: str) -> str:
    """Which of Action/NotAction (Resource/NotResource) the statement uses; exactly one is valid."""
    negative = "Not" + positive
    has_pos, has_neg = positive in site.stmt, negative in site.stmt
    if has_pos == has_neg:
        raise site.error(f"must have exactly one of {positive} and {negative}")
    return positive if has_pos else negative


def _action_applies(site: _Site, action: str) -> bool:
    # Action names are case-insensitive, service prefix included (`KMS:decrypt` is kms:Decrypt).
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
    element = _pair(site, "Action")
    hit = any(_matches(p, action, ignore_case=True) for p in _strings(site, element))
    return hit if element == "Action" else not hit


def _resource_applies(site: _Site, resource: str) -> bool:
    # ARNs are matched case-sensitively. A policy variable (`${aws:username}`) depends on the
    # request, so a pattern holding one is unreadable unless another pattern already decides.
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
    element = _pair(site, "Resource")
    patterns = _strings(site, element)
    plain = [p for p in patterns if "${" not in p]
    hit = any(_matches(p, resource, ignore_case=False) for p in plain)
    if not hit and len(plain) < len(patterns):
        variable = next(p for p in patterns if "${" in p)
        raise site.error(f"{element} {variable} uses a policy variable and cannot be evaluated")
    return hit if element == "Resource" else not hit


_OPERATORS = ("IpAddress", "NotIpAddress")
_SOURCE_IP = "aws:sourceip"
# The private path: a request through a VPC endpoint carries aws:SourceVpce and no aws:SourceIp; one from
# the internet the opposite. A condition on a key the request lacks is false, except for the negated
# operators (NotIpAddress, StringNot*), which are true, and Null, which tests exactly that.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
# https://docs.aws.amazon.com/kms/latest/developerguide/vpce-policy-condition.html
_SOURCE_VPCE = "aws:sourcevpce"
_VPCE_OPERATORS = ("Null", "StringEquals", "StringNotEquals", "StringLike", "StringNotLike")


def _vpce_holds(site: _Site, operator: str, values: list[str], vpce: str | None) -> bool:
    """Whether a condition on aws:SourceVpce holds for a request through `vpce` (None: from the internet)."""
    if operator == "Null":
        if values not in (["true"], ["false"]):
            raise site.error(f"condition Null aws:SourceVpce must be \"true\" or \"false\", got {values!r}")
        return (vpce is None) == (values == ["true"])
    if vpce is None:
        return operator.startswith("StringNot")  # the key is absent: only the negated operators hold
    matched = any(_matches(v, vpce, ignore_case=False) if "Like" in operator else v == vpce for v in values)
    return matched != operator.startswith("StringNot")


def _condition_ranges(site: _Site, vpce: str | None = None) -> Ranges:
    """The addresses from which the statement's Condition holds, for a request from the internet
    (`vpce` None: it has aws:SourceIp) or through the VPC endpoint `vpce` (then no address: the answer
    is every address or none, whether the condition holds).

    All operators, and all keys within one operator, must hold (AND); the values of one key are
    alternatives (OR): IpAddress holds inside any listed CIDR, NotIpAddress outside all of them.
    Condition keys are case-insensitive, operators are not. Only aws:SourceIp and aws:SourceVpce
    (Null and the String operators) are evaluated; anything else (Bool, IfExists, ForAnyValue:,
    aws:SourceVpc...) depends on more of the request, so it is refused rather than guessed.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourceip
    """
    condition = site.stmt.get("Condition")
    if condition is None:
        return Ranges.all()
    if not isinstance(condition, dict):
        raise site.error(f"Condition must be an object, got {condition!r}")
    result = Ranges.all()
    for operator, block in condition.items():
        if not isinstance(block, dict):
            raise site.error(f"condition {operator} must map keys to values, got {block!r}")
        if (operator not in _OPERATORS and operator not in _VPCE_OPERATORS) or not block:
            raise site.error(f"condition {' '.join([operator, *map(str, block)])} cannot be evaluated")
        for key, values in block.items():
            if not isinstance(values, str | list):
                raise site.error(f"condition {operator} {key} must be a string or a list, got {values!r}")
            listing = [values] if isinstance(values, str) else values
            if isinstance(key, str) and key.lower() == _SOURCE_VPCE and operator in _VPCE_OPERATORS:
                if not all(isinstance(v, str) for v in listing):
                    raise site.error(f"condition {operator} {key} must list strings, got {values!r}")
                if not _vpce_holds(site, operator, listing, vpce):
                    return Ranges.none()
                continue
            if not isinstance(key, str) or key.lower() != _SOURCE_IP or operator not in _OPERATORS:
                raise site.error(f"condition {operator} {key} cannot be evaluated")
            try:
                listed = Ranges.of(values)
            except AddressSyntaxError as exc:
                raise site.error(f"condition {operator} {key}: {exc}") from None
            if vpce is not None:
                # No aws:SourceIp on a VPC-endpoint request: IpAddress is false, NotIpAddress true.
                if operator == "IpAddress":
                    return Ranges.none()
                continue
            result &= listed if operator == "IpAddress" else ~listed
    return result


# --------------------------------------------------------------------------------------------------
# Identity policies
# --------------------------------------------------------------------------------------------------


def identity_sets(policies: Iterable[Labeled], *, action: str, resource: str,
                  vpce: str | None = None) -> tuple[Ranges, Ranges]:
    """(addresses some Allow applies from, addresses some Deny applies from), in the role's own policies.

    The Denies matter on their own: an explicit Deny in the role's policies wins even where the key
    policy grants the role directly.
    """
    allowed, denied = Ranges.none(), Ranges.none()
    for site in _sites(policies):
        effect = _effect(site)
        if not (_action_applies(site, action) and _resource_applies(site, resource)):
            continue
        where = _condition_ranges(site, vpce)
        if effect == "Allow":
            allowed |= where
        else:
            denied |= where
    return allowed, denied


def identity_allowed(policies: Iterable[Labeled], *, action: str, resource: str) -> Ranges:
    """Where the role's own policies (managed and inline) allow `action` on `resource`.

    Explicit Deny overrides any Allow; no Allow is an implicit deny.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html#policy-eval-denyallow
    """
    allowed, denied = identity_sets(policies, action=action, resource=resource)
    return allowed - denied


# --------------------------------------------------------------------------------------------------
# Key policy
# --------------------------------------------------------------------------------------------------


def _parse_arn(arn: str, service: str, what: str) -> Arn:
    try:
        parsed = Arn.parse(arn)
    except ArnError:
        raise CannotEvaluate(f"{arn!r} is not {what}") from None
    if parsed.service != service or not re.fullmatch(r"\d{12}", parsed.account):
        raise CannotEvaluate(f"{arn!r} is not {what}")
    return parsed


@dataclass(frozen=True)
class _Role:
    arn: str
    partition: str
    account: str
    name: str

    @classmethod
    def parse(cls, arn: str) -> _Role:
        parsed = _parse_arn(arn, "iam", "an IAM role ARN")
        if not parsed.resource.startswith("role/"):
            raise CannotEvaluate(f"{arn!r} is not an IAM role ARN")
        return cls(arn, parsed.partition, parsed.account, parsed.name)

    @property
    def account_names(self) -> tuple[str, str]:
        # A key policy names an account by its root ARN or by its bare id; both mean the account
        # (delegation to its IAM policies), not only its root user.
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-accounts
        return f"arn:{self.partition}:iam::{self.account}:root", self.account

    @property
    def session_prefix(self) -> str:
        return f"arn:{self.partition}:sts::{self.account}:assumed-role/{self.name}/"


Reach = Literal["none", "direct", "account", "unclear"]


def _principal_reach(site: _Site, role: _Role) -> tuple[Reach, str]:
    """Whether a key-policy statement's principal is the role itself, the role's account, or neither.

    Principal entries match exactly: IAM allows no partial wildcards there, only `*` alone, and
    `"*"` and `{"AWS": "*"}` both mean every principal. Service, Federated and CanonicalUser
    principals are never this role.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
    Returns the reach and, for "unclear", why.
    """
    stmt = site.stmt
    if ("Principal" in stmt) == ("NotPrincipal" in stmt):
        raise site.error("a key policy statement must have exactly one of Principal and NotPrincipal")
    element = "Principal" if "Principal" in stmt else "NotPrincipal"
    value = stmt[element]
    if value == "*":
        names = ["*"]
    elif isinstance(value, dict):
        aws = value.get("AWS", [])
        if isinstance(aws, str):
            names = [aws]
        elif isinstance(aws, list) and all(isinstance(a, str) for a in aws):
            names = list(aws)
        else:
            raise site.error(f"{element} AWS must be a string or a list of strings, got {aws!r}")
    else:
        raise site.error(f'{element} must be "*" or an object, got {value!r}')

    everyone = "*" in names
    itself = role.arn in names
    account = any(n in role.account_names for n in names)
    session = any(n.startswith(role.session_prefix) for n in names)
    if element == "Principal":
        if everyone or itself:
            return "direct", ""
        if session:
            # An assumed-role session principal matches one session name only; Atlas picks it.
            return "unclear", f"Principal names a session of the role ({role.session_prefix}...), which depends on Atlas's session name"
        return ("account", "") if account else ("none", "")
    if everyone:
        return "none", ""
    if itself or account or session:
        # IAM may check the account, then the role, then the assumed-role session against
        # NotPrincipal, so whether Atlas's session is excepted depends on the session name and the
        # service. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
        return "unclear", "NotPrincipal names the role or its account, which may or may not except Atlas's role session"
    return "direct", ""


@dataclass(frozen=True)
class KeyPolicyView:
    """What the key policy says about one role and one action, as address sets."""

    direct: Ranges  # the key policy allows the role itself (its ARN, or every principal)
    delegated: Ranges  # the key policy allows the role's account: the role's IAM policies decide
    denied: Ranges  # a key-policy Deny applies to the role


def key_policy_view(
    key_policy: dict[str, Any], *, role_arn: str, key_arn: str, action: str, label: str = KEY_POLICY_LABEL,
    vpce: str | None = None,
) -> KeyPolicyView:
    """Read the key policy for `role_arn` calling `action` on the key `key_arn`.

    A key policy is attached to one key, where `Resource: "*"` means "this key"; any Resource or
    NotResource is read as matching iff it matches the key's ARN.
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html#key-policy-elements
    A condition that cannot be read only raises when its statement applies to the role, action and
    key: otherwise it cannot change the answer.
    """
    role = _Role.parse(role_arn)
    direct, delegated, denied = Ranges.none(), Ranges.none(), Ranges.none()
    for site in _sites([(label, key_policy)]):
        effect = _effect(site)
        reach, why = _principal_reach(site, role)
        if reach == "none" or not (_action_applies(site, action) and _resource_applies(site, key_arn)):
            continue
        if reach == "unclear":
            raise site.error(f"{why}; cannot be evaluated")
        where = _condition_ranges(site, vpce)
        if effect == "Deny":
            # A Deny naming the role's account applies to every principal of it, the role included.
            denied |= where
        elif reach == "direct":
            direct |= where
        else:
            delegated |= where
    return KeyPolicyView(direct=direct, delegated=delegated, denied=denied)


def effective_allowed(
    identity: Iterable[Labeled],
    key_policy: dict[str, Any] | None,
    *,
    role_arn: str,
    key_arn: str,
    action: str,
    vpce: str | None = None,
) -> Ranges:
    """The addresses from which the role may call `action` on the key, all policies considered.

    KMS: a Deny in the key policy or in the role's policies wins. Otherwise, in the key's own
    account, the key policy must allow the role itself, or allow the account (delegating to IAM)
    while the role's policies allow. From another account the key policy must allow the role or its
    account AND the role's policies must allow: cross-account access always needs both sides.
    https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html
    `vpce`: the request comes through that VPC endpoint (AWS PrivateLink) instead of the internet; the
    answer is then every address (allowed) or none.
    `key_policy=None` means the key policy could not be read: only the role's side is returned, and
    the caller must say that the key owner's side was not checked.
    """
    identity = list(identity)
    allowed, denied = identity_sets(identity, action=action, resource=key_arn, vpce=vpce)
    if key_policy is None:
        return allowed - denied
    role = _Role.parse(role_arn)
    key = _parse_arn(key_arn, "kms", "a KMS key ARN")
    view = key_policy_view(key_policy, role_arn=role_arn, key_arn=key_arn, action=action, vpce=vpce)
    if key.account == role.account:
        granted = view.direct | (view.delegated & allowed)
    else:
        granted = (view.direct | view.delegated) & allowed
    return granted - denied - view.denied


# --------------------------------------------------------------------------------------------------
# Over-permission
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Excess:
    """One way a live statement allows more than what the program writes."""

    layer: Layer  # "role" or "key policy"
    policy: str  # the policy's label
    sid: str  # the statement's Sid, or "#<1-based position>"
    what: str  # a sentence, e.g. "allows kms:* (more than kms:Decrypt, kms:DescribeKey, kms:Encrypt) on the key"


_ATLAS_LOWER = {a.lower() for a in USE_ACTIONS}
_MORE_THAN = f"(more than {', '.join(USE_ACTIONS)})"


def _is_atlas_action(pattern: str) -> bool:
    # A wildcard always reaches further: AWS adds KMS actions over time.
    return "*" not in pattern and "?" not in pattern and pattern.lower() in _ATLAS_LOWER


def _has_source_ip_condition(stmt: dict[str, Any]) -> bool:
    """A network condition: IpAddress on aws:SourceIp, or the private path (aws:SourceVpce present or
    pinned), which admits no request from the internet."""
    condition = stmt.get("Condition")
    if not isinstance(condition, dict):
        return False
    block = condition.get("IpAddress")
    if isinstance(block, dict) and any(isinstance(k, str) and k.lower() == _SOURCE_IP for k in block):
        return True

    def on_vpce(operator: str, required: Any = None) -> bool:
        found = condition.get(operator)
        return isinstance(found, dict) and any(
            isinstance(k, str) and k.lower() == _SOURCE_VPCE and (required is None or v in required) for k, v in found.items())

    return on_vpce("Null", ("false", ["false"])) or on_vpce("StringEquals")


def _statement_excess(site: _Site, layer: Layer, key_arn: str, also: frozenset[str] = frozenset()) -> list[Excess]:
    def found(what: str) -> Excess:
        return Excess(layer, site.policy, site.sid, what)

    out: list[Excess] = []
    resource_element = _pair(site, "Resource")
    resources = _strings(site, resource_element)
    if layer == "key policy" or (resource_element == "Resource" and set(resources) <= {key_arn} | also):
        scope = "on the key"  # in a key policy every statement is about this key only
    elif resource_element == "NotResource":
        scope = f"on everything but {', '.join(resources)}"
    else:
        scope = f"on {', '.join(resources) or 'no resource'}"

    action_element = _pair(site, "Action")
    actions = _strings(site, action_element)
    if action_element == "NotAction":
        out.append(found(f"NotAction allows everything else ({', '.join(actions)} excepted) {scope}"))
    else:
        extra = [a for a in actions if not _is_atlas_action(a)]
        if extra:
            out.append(found(f"allows {', '.join(extra)} {_MORE_THAN} {scope}"))

    if layer == "role":
        if resource_element == "NotResource":
            out.append(found(f"NotResource allows everything else ({', '.join(resources)} excepted)"))
        for r in resources if resource_element == "Resource" else []:
            if r != key_arn and r not in also:
                how = "more than the key" if _matches(r, key_arn, ignore_case=False) else "not the key"
                out.append(found(f"applies to {r} ({how} {key_arn})"))

    if not _has_source_ip_condition(site.stmt):
        out.append(found("no source-IP condition (IpAddress on aws:SourceIp): allows from any address"))
    return out


def excess(
    identity: Iterable[Labeled], key_policy: dict[str, Any] | None, *, role_arn: str, key_arn: str,
    also: Iterable[str] = (),
) -> list[Excess]:
    """Every Allow that grants more than the program writes, role policies first, in document order.

    The program grants exactly kms:Decrypt, kms:DescribeKey and kms:Encrypt on the key, from listed
    source addresses (core.policies); `also` are the other keys it grants on purpose (keys retained for
    restores, and the key Atlas still holds while it moves to a new one). Deny statements only take away and are never excess. In the
    key policy only statements for the role itself (its ARN, or every principal) are checked: the
    statement for the key's account is its administration (and delegation), not Atlas's access.
    """
    out: list[Excess] = []
    for site in _sites(identity):
        if _effect(site) == "Allow":
            out += _statement_excess(site, "role", key_arn, frozenset(also))
    if key_policy is None:
        return out
    role = _Role.parse(role_arn)
    for site in _sites([(KEY_POLICY_LABEL, key_policy)]):
        if _effect(site) != "Allow":
            continue
        if "NotPrincipal" in site.stmt:
            # Allow + NotPrincipal grants every principal not listed, possibly anonymous ones.
            # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
            out.append(Excess("key policy", site.policy, site.sid, "NotPrincipal allows every principal not listed"))
            continue
        reach, _ = _principal_reach(site, role)
        if reach == "direct" and _resource_applies(site, key_arn):
            out += _statement_excess(site, "key policy", key_arn)
    return out
