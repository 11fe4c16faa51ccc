"""drift.evaluate: from which source addresses IAM and KMS let the Atlas role use the key.

Read as a specification: every IAM form once allowed as expected and once not, the key policy's
three ways to reach the role, what cannot be evaluated, what counts as over-permission; then
properties against an independent brute force and against principalmapper's simulator.
IAM: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
KMS: https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html
"""

from __future__ import annotations

import fnmatch
import ipaddress
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drift.evaluate import (
    USE_ACTIONS,
    CannotEvaluate,
    Excess,
    KeyPolicyView,
    Labeled,
    Ranges,
    effective_allowed,
    excess,
    identity_allowed,
    key_policy_view,
    statements,
)

ACCOUNT = "111122223333"  # the role's account
OWNER = "444455556666"  # the key's account, in cross-account cases
ROLE = f"arn:aws:iam::{ACCOUNT}:role/atlas-kms-role"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/someone-else"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
OWNER_ROOT = f"arn:aws:iam::{OWNER}:root"
KEY = f"arn:aws:kms:eu-west-2:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY = KEY.replace("1234abcd", "ffffffff")
FOREIGN_KEY = KEY.replace(ACCOUNT, OWNER)

ATLAS_CIDRS = ["3.92.113.229/32", "192.0.2.0/28"]
ATLAS = Ranges.of(ATLAS_CIDRS)
NOTHING = Ranges.none()
EVERYWHERE = Ranges.all()


def stmt(**fields: Any) -> dict[str, Any]:
    """The statement the program writes, with `fields` changed (a None value removes the field)."""
    base: dict[str, Any] = {
        "Sid": "AtlasEncryptionAtRestKms",
        "Effect": "Allow",
        "Action": list(USE_ACTIONS),
        "Resource": KEY,
        "Condition": {"IpAddress": {"aws:SourceIp": ATLAS_CIDRS}},
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def ip(op: str, *cidrs: str) -> dict[str, Any]:
    return {op: {"aws:SourceIp": list(cidrs)}}


def role(*stmts: dict[str, Any]) -> list[Labeled]:
    return [("atlas-kms", {"Version": "2012-10-17", "Statement": list(stmts)})]


def key_doc(*stmts: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(stmts)}


def user(principal: Any = ROLE, **fields: Any) -> dict[str, Any]:
    """A key-policy statement: the program's role statement, for `principal`, Resource "*"."""
    return stmt(Sid="AtlasRoleUsesKey", Principal={"AWS": principal} if principal != "*" else "*", Resource="*") | fields


ADMIN = {"Sid": "KeyAccountAdministration", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}


# The address-set type itself (Ranges: reading CIDRs as IAM does, the set algebra, its CIDR cover) is
# core.addresses', tested once in tests/test_addresses.py.


# ---------------------------------------------------------------------------------------------------
# Identity policies: every form, allowed as expected and not
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Form:
    name: str
    stmts: tuple[dict[str, Any], ...]
    action: str
    expected: Ranges


FORMS = [
    Form("the program's own statement", (stmt(),), "kms:Decrypt", ATLAS),
    Form("another Sid", (stmt(Sid="HandWritten"),), "kms:Encrypt", ATLAS),
    Form("no Sid", (stmt(Sid=None),), "kms:Encrypt", ATLAS),
    Form("another Sid on another key", (stmt(Sid="HandWritten", Resource=OTHER_KEY),), "kms:Encrypt", NOTHING),
    Form("Resource as a one-element list", (stmt(Resource=[KEY]),), "kms:Decrypt", ATLAS),
    Form("Resource as a list of another key", (stmt(Resource=[OTHER_KEY]),), "kms:Decrypt", NOTHING),
    Form("actions in another order", (stmt(Action=list(reversed(USE_ACTIONS))),), "kms:DescribeKey", ATLAS),
    Form("actions in another order, another action", (stmt(Action=list(reversed(USE_ACTIONS))),), "kms:GenerateDataKey", NOTHING),
    Form("one action as a string", (stmt(Action="kms:Decrypt"),), "kms:Decrypt", ATLAS),
    Form("one action as a string, another action", (stmt(Action="kms:Decrypt"),), "kms:Encrypt", NOTHING),
    Form("action names are case-insensitive", (stmt(Action="KMS:decrypt"),), "kms:Decrypt", ATLAS),
    Form("kms:*", (stmt(Action="kms:*"),), "kms:ScheduleKeyDeletion", ATLAS),
    Form("kms:* is not another service", (stmt(Action="kms:*"),), "s3:GetObject", NOTHING),
    Form("kms:De*", (stmt(Action="kms:De*"),), "kms:DescribeKey", ATLAS),
    Form("kms:De* is not Encrypt", (stmt(Action="kms:De*"),), "kms:Encrypt", NOTHING),
    Form("* is every action", (stmt(Action="*"),), "kms:Encrypt", ATLAS),
    Form("? is one character", (stmt(Action="kms:?ncrypt"),), "kms:Encrypt", ATLAS),
    Form("? is exactly one character", (stmt(Action="kms:?ncrypt"),), "kms:Decrypt", NOTHING),
    Form("NotAction allows the rest", (stmt(Action=None, NotAction=["kms:Encrypt"]),), "kms:Decrypt", ATLAS),
    Form("NotAction excepts its actions", (stmt(Action=None, NotAction=["kms:Encrypt"]),), "kms:Encrypt", NOTHING),
    Form("Resource *", (stmt(Resource="*"),), "kms:Decrypt", ATLAS),
    Form("Resource key/* of the account", (stmt(Resource=f"arn:aws:kms:*:{ACCOUNT}:key/*"),), "kms:Decrypt", ATLAS),
    Form("Resource key/* of another account", (stmt(Resource="arn:aws:kms:*:999999999999:key/*"),), "kms:Decrypt", NOTHING),
    Form("Resource ARNs are case-sensitive", (stmt(Resource=KEY.replace(":key/", ":KEY/")),), "kms:Decrypt", NOTHING),
    Form("[ is a literal, not a character class", (stmt(Resource=KEY[:-1] + "[ab]"),), "kms:Decrypt", NOTHING),
    Form("NotResource of another key", (stmt(Resource=None, NotResource=OTHER_KEY),), "kms:Decrypt", ATLAS),
    Form("NotResource of the key", (stmt(Resource=None, NotResource=[KEY]),), "kms:Decrypt", NOTHING),
    Form("two Allow statements: the union", (stmt(), stmt(Sid="More", Condition=ip("IpAddress", "198.51.100.0/24"))),
         "kms:Decrypt", ATLAS | Ranges.of(["198.51.100.0/24"])),
    Form("two Allow statements, the second on another key", (stmt(), stmt(Resource=OTHER_KEY, Condition=None)),
         "kms:Decrypt", ATLAS),
    Form("Deny with IpAddress subtracts", (stmt(), stmt(Effect="Deny", Condition=ip("IpAddress", "192.0.2.0/30"))),
         "kms:Decrypt", ATLAS - Ranges.of(["192.0.2.0/30"])),
    Form("Deny with IpAddress of another action subtracts nothing",
         (stmt(), stmt(Effect="Deny", Action="kms:Encrypt", Condition=ip("IpAddress", "192.0.2.0/30"))), "kms:Decrypt", ATLAS),
    Form("Deny without condition removes everything", (stmt(), stmt(Effect="Deny", Action="kms:*", Condition=None)),
         "kms:Decrypt", NOTHING),
    Form("Deny without condition on another key removes nothing", (stmt(), stmt(Effect="Deny", Resource=OTHER_KEY, Condition=None)),
         "kms:Decrypt", ATLAS),
    Form("NotIpAddress Deny keeps only its list", (stmt(), stmt(Effect="Deny", Condition=ip("NotIpAddress", "192.0.2.0/29"))),
         "kms:Decrypt", Ranges.of(["192.0.2.0/29"])),
    Form("NotIpAddress Allow allows everything else", (stmt(Condition=ip("NotIpAddress", "192.0.2.0/29")),),
         "kms:Decrypt", ~Ranges.of(["192.0.2.0/29"])),
    Form("no condition: from everywhere", (stmt(Condition=None),), "kms:Decrypt", EVERYWHERE),
    Form("an empty IpAddress list: from nowhere", (stmt(Condition=ip("IpAddress")),), "kms:Decrypt", NOTHING),
    Form("operators are ANDed", (stmt(Condition=ip("IpAddress", "192.0.2.0/28") | ip("NotIpAddress", "192.0.2.0/30")),),
         "kms:Decrypt", Ranges.of(["192.0.2.4/30", "192.0.2.8/29"])),
    Form("condition keys are case-insensitive", (stmt(Condition={"IpAddress": {"AWS:SourceIP": "192.0.2.0/28"}}),),
         "kms:Decrypt", Ranges.of(["192.0.2.0/28"])),
    Form("host bits set: the network", (stmt(Condition=ip("IpAddress", "192.0.2.9/28")),), "kms:Decrypt", Ranges.of(["192.0.2.0/28"])),
    Form("IPv6", (stmt(Condition=ip("IpAddress", "2001:db8::/32")),), "kms:Decrypt", Ranges.of(["2001:db8::/32"])),
    Form("mixed IPv4 and IPv6", (stmt(Condition=ip("IpAddress", "2001:db8::/32", "192.0.2.0/28")),), "kms:Decrypt",
         Ranges.of(["192.0.2.0/28", "2001:db8::/32"])),
    Form("an IPv6 Deny leaves IPv4 alone", (stmt(Condition=ip("IpAddress", "2001:db8::/32", "192.0.2.0/28")),
                                           stmt(Effect="Deny", Condition=ip("IpAddress", "::/0"))), "kms:Decrypt",
         Ranges.of(["192.0.2.0/28"])),
    Form("an IPv4 NotIpAddress Deny removes all IPv6", (stmt(Condition=ip("IpAddress", "2001:db8::/32", "192.0.2.0/28")),
                                                        stmt(Effect="Deny", Condition=ip("NotIpAddress", "192.0.2.0/30"))),
         "kms:Decrypt", Ranges.of(["192.0.2.0/30"])),
    Form("no statement at all", (), "kms:Decrypt", NOTHING),
]


@pytest.mark.parametrize("form", FORMS, ids=[f.name for f in FORMS])
def test_identity_policy_form(form: Form) -> None:
    assert identity_allowed(role(*form.stmts), action=form.action, resource=KEY) == form.expected


def test_the_actions_judged_are_the_three_atlas_needs() -> None:
    # MongoDB's prerequisites: kms:Decrypt, kms:Encrypt and kms:DescribeKey, nothing more.
    assert USE_ACTIONS == ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt")


def test_statement_may_be_one_object_and_policies_are_flattened_in_order() -> None:
    single = ("single", {"Statement": stmt(Sid="One")})
    assert [(label, n, s["Sid"]) for label, n, s in statements([single, *role(stmt(Sid="A"), stmt(Sid="B"))])] == [
        ("single", 1, "One"), ("atlas-kms", 1, "A"), ("atlas-kms", 2, "B")]
    assert identity_allowed([single], action="kms:Decrypt", resource=KEY) == ATLAS


def test_policies_are_ored_across_documents() -> None:
    two = [*role(stmt()), ("extra", key_doc(stmt(Condition=ip("IpAddress", "2001:db8::/32"))))]
    assert identity_allowed(two, action="kms:Decrypt", resource=KEY) == ATLAS | Ranges.of(["2001:db8::/32"])


# ---------------------------------------------------------------------------------------------------
# What cannot be evaluated
# ---------------------------------------------------------------------------------------------------


def test_an_unknown_condition_names_the_policy_the_statement_and_the_condition() -> None:
    policies = [("extra", key_doc(stmt(), stmt(Sid=None, Condition={"StringEquals": {"aws:SourceVpc": "vpc-1a2b3c4d"}})))]
    with pytest.raises(CannotEvaluate) as err:
        identity_allowed(policies, action="kms:Decrypt", resource=KEY)
    assert str(err.value) == 'policy "extra" statement 2: condition StringEquals aws:SourceVpc cannot be evaluated'


@pytest.mark.parametrize(
    ("operator", "key"),
    [
        ("StringEquals", "aws:SourceVpc"),
        ("Bool", "aws:ViaAWSService"),
        ("ArnLike", "aws:PrincipalArn"),
        ("IpAddressIfExists", "aws:SourceIp"),  # IfExists also holds when the key is absent
        ("NotIpAddressIfExists", "aws:SourceIp"),
        ("ForAnyValue:IpAddress", "aws:SourceIp"),
        ("IpAddress", "aws:VpcSourceIp"),  # another key, even with the IP operator
        ("ipaddress", "aws:SourceIp"),  # operators are case-sensitive
    ],
)
def test_other_conditions_cannot_be_evaluated(operator: str, key: str) -> None:
    policies = role(stmt(Sid="Vpc", Condition={"IpAddress": {"aws:SourceIp": ATLAS_CIDRS}, operator: {key: "x"}}))
    with pytest.raises(CannotEvaluate, match=f'policy "atlas-kms" statement "Vpc": condition {operator} {key} cannot be evaluated'):
        identity_allowed(policies, action="kms:Decrypt", resource=KEY)


def test_a_malformed_address_in_a_condition_cannot_be_evaluated() -> None:
    with pytest.raises(CannotEvaluate, match=r'statement "AtlasEncryptionAtRestKms": condition IpAddress aws:SourceIp: \'10.0.0.300\''):
        identity_allowed(role(stmt(Condition=ip("IpAddress", "10.0.0.300"))), action="kms:Decrypt", resource=KEY)


def test_a_policy_variable_in_the_resource_cannot_be_evaluated() -> None:
    variable = stmt(Resource=f"arn:aws:kms:eu-west-2:{ACCOUNT}:key/${{aws:PrincipalTag/key}}")
    with pytest.raises(CannotEvaluate, match="policy variable"):
        identity_allowed(role(variable), action="kms:Decrypt", resource=KEY)
    # ...unless another entry already decides.
    assert identity_allowed(role(variable | {"Resource": [KEY, variable["Resource"]]}), action="kms:Decrypt", resource=KEY) == ATLAS


@pytest.mark.parametrize(
    "broken",
    [
        stmt(Effect="allow"),
        stmt(Action=None),
        stmt(NotAction="kms:Encrypt"),  # both Action and NotAction
        stmt(Resource=None),
        stmt(Resource=[KEY, 7]),
        stmt(Condition=["IpAddress"]),
        stmt(Condition={"StringEquals": {}}),
    ],
    ids=["effect", "no action", "action and notaction", "no resource", "resource not a string", "condition not an object",
         "unknown operator without keys"],
)
def test_malformed_statements_cannot_be_evaluated(broken: dict[str, Any]) -> None:
    with pytest.raises(CannotEvaluate, match='policy "atlas-kms" statement "AtlasEncryptionAtRestKms"'):
        identity_allowed(role(broken), action="kms:Decrypt", resource=KEY)


def test_an_unreadable_condition_on_a_statement_that_does_not_apply_cannot_matter() -> None:
    s3 = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {"StringEquals": {"aws:SourceVpce": "v"}}}
    assert identity_allowed(role(stmt(), s3), action="kms:Decrypt", resource=KEY) == ATLAS


# ---------------------------------------------------------------------------------------------------
# The key policy: allows the role directly, delegates to its account, or denies
# ---------------------------------------------------------------------------------------------------


def view(*stmts: dict[str, Any], action: str = "kms:Decrypt", key: str = KEY) -> KeyPolicyView:
    return key_policy_view(key_doc(*stmts), role_arn=ROLE, key_arn=key, action=action)


@pytest.mark.parametrize(
    ("principal", "direct", "delegated"),
    [
        ({"AWS": ROLE}, ATLAS, NOTHING),
        ({"AWS": [OTHER_ROLE, ROLE]}, ATLAS, NOTHING),
        ("*", ATLAS, NOTHING),
        ({"AWS": "*"}, ATLAS, NOTHING),
        ({"AWS": ROOT}, NOTHING, ATLAS),
        ({"AWS": ACCOUNT}, NOTHING, ATLAS),  # the bare account id means the account too
        ({"AWS": OTHER_ROLE}, NOTHING, NOTHING),
        ({"AWS": OWNER_ROOT}, NOTHING, NOTHING),  # another account's root is not the role's account
        ({"Service": "ec2.amazonaws.com"}, NOTHING, NOTHING),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:role/*"}, NOTHING, NOTHING),  # no partial wildcards in principals
    ],
)
def test_key_policy_principals(principal: Any, direct: Ranges, delegated: Ranges) -> None:
    assert view(stmt(Principal=principal, Resource="*")) == KeyPolicyView(direct=direct, delegated=delegated, denied=NOTHING)


def test_key_policy_resource_star_means_this_key_and_another_key_is_not_it() -> None:
    assert view(user(Resource="*")).direct == ATLAS
    assert view(user(Resource=KEY)).direct == ATLAS
    assert view(user(Resource=OTHER_KEY)).direct == NOTHING


def test_key_policy_denies_apply_to_the_role_and_its_account() -> None:
    deny_role = user(Sid="NoOne", Effect="Deny", Condition=ip("IpAddress", "192.0.2.0/30"))
    deny_account = stmt(Effect="Deny", Principal={"AWS": ROOT}, Resource="*", Condition=ip("NotIpAddress", "192.0.2.0/28"))
    deny_other = stmt(Effect="Deny", Principal={"AWS": OTHER_ROLE}, Resource="*", Condition=None)
    assert view(user(), deny_role, deny_account, deny_other) == KeyPolicyView(
        direct=ATLAS, delegated=NOTHING, denied=Ranges.of(["192.0.2.0/30"]) | ~Ranges.of(["192.0.2.0/28"]))


def test_not_principal_reaches_the_role_unless_it_names_it() -> None:
    assert view(stmt(NotPrincipal={"AWS": OTHER_ROLE}, Resource="*")).direct == ATLAS
    # Whether naming the role (or its account) excepts Atlas's role session depends on the session
    # name and the service: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
    with pytest.raises(CannotEvaluate, match='policy "key policy" statement "Odd": NotPrincipal names the role'):
        view(stmt(Sid="Odd", Effect="Deny", NotPrincipal={"AWS": [ROLE, ROOT]}, Resource="*"))


def test_key_policy_conditions_only_matter_where_the_statement_applies() -> None:
    vpce = {"StringEquals": {"aws:SourceVpc": "vpc-1a2b3c4d"}}
    elsewhere = [
        stmt(Principal={"AWS": OTHER_ROLE}, Resource="*", Condition=vpce),
        stmt(Principal={"Service": "logs.amazonaws.com"}, Resource="*", Condition=vpce),
        user(Action="kms:GenerateDataKey", Condition=vpce),
        user(Resource=OTHER_KEY, Condition=vpce),
    ]
    assert view(user(), *elsewhere).direct == ATLAS
    with pytest.raises(CannotEvaluate, match='policy "key policy" statement "Vpce": condition StringEquals aws:SourceVpc'):
        view(user(), user(Sid="Vpce", Condition=vpce))


def test_same_account_the_key_policy_alone_can_allow_the_role() -> None:
    assert effective_allowed([], key_doc(user()), role_arn=ROLE, key_arn=KEY, action="kms:Decrypt") == ATLAS


def test_same_account_delegation_needs_the_role_policy() -> None:
    default = key_doc(ADMIN)  # AWS's default key policy: the account, kms:*
    assert effective_allowed([], default, role_arn=ROLE, key_arn=KEY, action="kms:Decrypt") == NOTHING
    assert effective_allowed(role(stmt()), default, role_arn=ROLE, key_arn=KEY, action="kms:Decrypt") == ATLAS
    narrower = key_doc(ADMIN | {"Condition": ip("IpAddress", "192.0.2.0/30")})
    assert effective_allowed(role(stmt()), narrower, role_arn=ROLE, key_arn=KEY, action="kms:Decrypt") == Ranges.of(["192.0.2.0/30"])


def test_same_account_direct_and_delegated_add_up() -> None:
    policy = key_doc(ADMIN, user(Condition=ip("IpAddress", "2001:db8::/32")))
    got = effective_allowed(role(stmt()), policy, role_arn=ROLE, key_arn=KEY, action="kms:Decrypt")
    assert got == ATLAS | Ranges.of(["2001:db8::/32"])


def test_a_key_policy_without_the_role_or_its_account_allows_nothing() -> None:
    policy = key_doc(user(principal=OTHER_ROLE))
    assert effective_allowed(role(stmt()), policy, role_arn=ROLE, key_arn=KEY, action="kms:Decrypt") == NOTHING


def test_denies_on_either_side_win() -> None:
    no_30 = {"Effect": "Deny", "Action": "kms:*", "Resource": "*", "Condition": ip("IpAddress", "192.0.2.0/30")}
    policy = key_doc(ADMIN, user(), no_30 | {"Principal": "*"})
    assert effective_allowed(role(stmt()), policy, role_arn=ROLE, key_arn=KEY, action="kms:Decrypt") == ATLAS - Ranges.of(["192.0.2.0/30"])
    # A Deny in the role's own policy also takes from what the key policy grants directly.
    got = effective_allowed(role(no_30), key_doc(user()), role_arn=ROLE, key_arn=KEY, action="kms:Decrypt")
    assert got == ATLAS - Ranges.of(["192.0.2.0/30"])


def test_cross_account_needs_both_the_key_policy_and_the_role_policy() -> None:
    # https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html
    owner_admin = ADMIN | {"Principal": {"AWS": OWNER_ROOT}}
    direct = key_doc(owner_admin, user(Resource="*"))
    assert effective_allowed([], direct, role_arn=ROLE, key_arn=FOREIGN_KEY, action="kms:Decrypt") == NOTHING
    wider = role(stmt(Resource=FOREIGN_KEY, Condition=ip("IpAddress", "192.0.2.0/24")))
    assert effective_allowed(wider, direct, role_arn=ROLE, key_arn=FOREIGN_KEY, action="kms:Decrypt") == Ranges.of(["192.0.2.0/28"])
    to_account = key_doc(owner_admin, user(principal=ROOT))
    assert effective_allowed(wider, to_account, role_arn=ROLE, key_arn=FOREIGN_KEY, action="kms:Decrypt") == Ranges.of(["192.0.2.0/28"])
    # The owner's own administration statement does not reach another account's role.
    assert effective_allowed(wider, key_doc(owner_admin), role_arn=ROLE, key_arn=FOREIGN_KEY, action="kms:Decrypt") == NOTHING


def test_an_unreadable_key_policy_leaves_the_role_side_only() -> None:
    policies = role(stmt(), stmt(Effect="Deny", Condition=ip("IpAddress", "192.0.2.0/30")))
    got = effective_allowed(policies, None, role_arn=ROLE, key_arn=FOREIGN_KEY, action="kms:Decrypt")
    assert got == identity_allowed(policies, action="kms:Decrypt", resource=FOREIGN_KEY) == NOTHING
    policies = role(stmt(Resource=FOREIGN_KEY))
    assert effective_allowed(policies, None, role_arn=ROLE, key_arn=FOREIGN_KEY, action="kms:Decrypt") == ATLAS


def test_the_program_output_allows_exactly_its_addresses_and_nothing_more() -> None:
    """Every key mode, from a real offline run of the program: the meaning is the allow-list, exactly."""
    from tests.safety.documents import MODES, generated

    for mode in MODES:
        g = generated(mode)
        key_policy = g.key_policy
        if key_policy is None:  # a key the program does not manage keeps AWS's default policy
            owner = g.key_arn.split(":")[4]
            key_policy = key_doc(ADMIN | {"Principal": {"AWS": f"arn:aws:iam::{owner}:root"}})
            if g.owner_statement is not None:  # plus the statement the owner is asked to add
                key_policy["Statement"].append(g.owner_statement)
        identity = [(f"kms-{i}", d) for i, d in enumerate(g.role_policies)]
        for action in USE_ACTIONS:
            got = effective_allowed(identity, key_policy, role_arn=g.role_arn, key_arn=g.key_arn, action=action)
            assert got == Ranges.of(g.cidrs), (mode, action)
            assert got.cidrs() == g.cidrs
        assert effective_allowed(identity, key_policy, role_arn=g.role_arn, key_arn=g.key_arn, action="kms:ReEncryptFrom").is_empty()
        assert excess(identity, key_policy, role_arn=g.role_arn, key_arn=g.key_arn) == [], mode


# ---------------------------------------------------------------------------------------------------
# Over-permission compared with what the program writes
# ---------------------------------------------------------------------------------------------------

MORE = "(more than kms:Decrypt, kms:DescribeKey, kms:Encrypt)"
EXCESS_CASES = [
    ("kms:*", stmt(Sid="Wide", Action="kms:*"), [f"allows kms:* {MORE} on the key"]),
    ("kms:De*", stmt(Sid="Wide", Action=["kms:Encrypt", "kms:De*"]), [f"allows kms:De* {MORE} on the key"]),
    ("*", stmt(Sid="Wide", Action="*"), [f"allows * {MORE} on the key"]),
    ("another explicit action", stmt(Sid="Wide", Action=[*USE_ACTIONS, "kms:GenerateDataKey"]),
     [f"allows kms:GenerateDataKey {MORE} on the key"]),
    ("NotAction", stmt(Sid="Wide", Action=None, NotAction="kms:Encrypt"), ["NotAction allows everything else (kms:Encrypt excepted) on the key"]),
    ("Resource *", stmt(Sid="Wide", Resource="*"), [f"applies to * (more than the key {KEY})"]),
    ("Resource key/*", stmt(Sid="Wide", Resource=f"arn:aws:kms:*:{ACCOUNT}:key/*"),
     [f"applies to arn:aws:kms:*:{ACCOUNT}:key/* (more than the key {KEY})"]),
    ("another key", stmt(Sid="Wide", Resource=[KEY, OTHER_KEY]), [f"applies to {OTHER_KEY} (not the key {KEY})"]),
    ("NotResource", stmt(Sid="Wide", Resource=None, NotResource=OTHER_KEY), [f"NotResource allows everything else ({OTHER_KEY} excepted)"]),
    ("no source-IP condition", stmt(Sid="Wide", Condition=None), ["no source-IP condition (IpAddress on aws:SourceIp): allows from any address"]),
    ("NotIpAddress is no source-IP restriction", stmt(Sid="Wide", Condition=ip("NotIpAddress", "192.0.2.0/24")),
     ["no source-IP condition (IpAddress on aws:SourceIp): allows from any address"]),
    ("several at once", stmt(Sid="Wide", Action="kms:*", Resource="*", Condition=None),
     [f"allows kms:* {MORE} on *", f"applies to * (more than the key {KEY})",
      "no source-IP condition (IpAddress on aws:SourceIp): allows from any address"]),
]


@pytest.mark.parametrize(("name", "statement", "what"), EXCESS_CASES, ids=[c[0] for c in EXCESS_CASES])
def test_role_excess(name: str, statement: dict[str, Any], what: list[str]) -> None:
    found = excess(role(stmt(), statement), None, role_arn=ROLE, key_arn=KEY)
    assert found == [Excess("role", "atlas-kms", "Wide", w) for w in what]


def test_what_the_program_writes_and_deny_statements_are_never_excess() -> None:
    deny_all = {"Effect": "Deny", "Action": "*", "Resource": "*"}
    assert excess(role(stmt(), stmt(Sid="Other", Action=["kms:encrypt"], Resource=[KEY]), deny_all),
                  key_doc(ADMIN, user(), deny_all | {"Principal": "*"}), role_arn=ROLE, key_arn=KEY) == []


def test_excess_names_statements_without_sid_by_position() -> None:
    assert excess(role(stmt(), stmt(Sid=None, Action="kms:*")), None, role_arn=ROLE, key_arn=KEY) == [
        Excess("role", "atlas-kms", "#2", f"allows kms:* {MORE} on the key")]


def test_key_policy_excess_is_about_statements_for_the_role_itself() -> None:
    policy = key_doc(
        ADMIN,  # the account's administration (delegation to IAM) is not Atlas's access
        user(Sid="RoleWide", Action="kms:*"),
        user(Sid="Everyone", principal="*", Condition=None),
        user(Sid="Other", principal=OTHER_ROLE, Action="kms:*", Condition=None),
        user(Sid="Key", Resource=[KEY]),  # Resource "*" and the key ARN both mean this key
        stmt(Sid="AllButOne", NotPrincipal={"AWS": OTHER_ROLE}, Resource="*"),
    )
    assert excess([], policy, role_arn=ROLE, key_arn=KEY) == [
        Excess("key policy", "key policy", "RoleWide", f"allows kms:* {MORE} on the key"),
        Excess("key policy", "key policy", "Everyone", "no source-IP condition (IpAddress on aws:SourceIp): allows from any address"),
        Excess("key policy", "key policy", "AllButOne", "NotPrincipal allows every principal not listed"),
    ]


def test_role_excess_comes_before_key_policy_excess() -> None:
    found = excess(role(stmt(Sid="R", Condition=None)), key_doc(user(Sid="K", Condition=None)), role_arn=ROLE, key_arn=KEY)
    assert [(e.layer, e.sid) for e in found] == [("role", "R"), ("key policy", "K")]


# ---------------------------------------------------------------------------------------------------
# Properties: random statement sets against an independent brute force, then against principalmapper
# ---------------------------------------------------------------------------------------------------

ACTION_POOL = ("kms:Decrypt", "kms:Encrypt", "kms:DescribeKey", "kms:GenerateDataKey", "kms:*", "kms:De*",
               "kms:?ncrypt", "KMS:decrypt", "*", "s3:GetObject")
V4_POOL = ("10.0.0.0/8", "10.1.2.0/24", "10.1.2.128/25", "10.1.2.77", "192.0.2.0/30", "198.51.100.0/22", "0.0.0.0/0")
V6_POOL = ("2001:db8::/32", "2001:db8:1::/48", "2001:db8::1", "2001:db8:ffff::/48", "::/0")
HOST_BITS = ("10.1.2.5/24", "2001:db8:1::9/48")  # IAM reads these as their networks


def edge_addresses() -> list[str]:
    """First and last address of every pool entry, and their outside neighbours, plus a few others."""
    found = {"8.8.8.8", "172.16.0.1", "2600:1f18::1", "fe80::1"}
    for entry in V4_POOL + V6_POOL + HOST_BITS:
        net = ipaddress.ip_network(entry, strict=False)
        last = 2**net.max_prefixlen - 1
        for value in (int(net.network_address) - 1, int(net.network_address), int(net.broadcast_address),
                      int(net.broadcast_address) + 1):
            if 0 <= value <= last:
                found.add(str(ipaddress.ip_address(value) if net.version == 4 else ipaddress.IPv6Address(value)))
    return sorted(found)


SAMPLES = edge_addresses()
TESTED_ACTIONS = (*USE_ACTIONS, "kms:ScheduleKeyDeletion")


def resources_for(key: str) -> list[Any]:
    other = key.replace("1234abcd", "ffffffff")
    return [key, "*", other, [key], [other, key], f"arn:aws:kms:*:{key.split(':')[4]}:key/*"]


ROLE_PRINCIPALS: list[tuple[str, Any]] = [
    ("Principal", {"AWS": ROLE}),
    ("Principal", {"AWS": [OTHER_ROLE, ROLE]}),
    ("Principal", "*"),
    ("Principal", {"AWS": ROOT}),
    ("Principal", {"AWS": ACCOUNT}),
    ("Principal", {"AWS": OTHER_ROLE}),
    ("Principal", {"AWS": OWNER_ROOT}),
    ("Principal", {"Service": "ec2.amazonaws.com"}),
    ("NotPrincipal", {"AWS": OTHER_ROLE}),
]
# principalmapper reads {"AWS": "*"} as the role's account (it only treats the string "*" as every
# principal), where AWS reads both the same, so this form is left out of the principalmapper test.
AWS_STAR: tuple[str, Any] = ("Principal", {"AWS": "*"})


@st.composite
def statement_strategy(draw: st.DrawFn, key: str, principals: list[tuple[str, Any]] | None, cidrs: tuple[str, ...]) -> dict[str, Any]:
    s: dict[str, Any] = {"Effect": draw(st.sampled_from(["Allow", "Allow", "Deny"]))}
    actions = draw(st.lists(st.sampled_from(ACTION_POOL), min_size=1, max_size=3))
    s["NotAction" if draw(st.integers(0, 9)) == 0 else "Action"] = actions[0] if len(actions) == 1 else actions
    s["NotResource" if draw(st.integers(0, 9)) == 0 else "Resource"] = draw(st.sampled_from(resources_for(key)))
    if principals is not None:
        # Mostly the role itself or its account, where direct and delegated access differ.
        by_reach = [[p for p in principals if brute_reach_of(*p) == reach] for reach in ("role", "account")]
        element, value = draw(st.one_of(*(st.sampled_from(group) for group in [*by_reach, principals])))
        s[element] = value
    condition: dict[str, Any] = {}
    for op in draw(st.lists(st.sampled_from(["IpAddress", "NotIpAddress"]), max_size=2, unique=True)):
        values = draw(st.lists(st.sampled_from(cidrs), max_size=3))
        condition[op] = {draw(st.sampled_from(["aws:SourceIp", "aws:sourceip"])): values[0] if len(values) == 1 else values}
    if condition:
        s["Condition"] = condition
    return s


@dataclass
class Grants:
    cross: bool
    identity: list[dict[str, Any]]
    key_policy: list[dict[str, Any]] | None

    @property
    def key(self) -> str:
        return FOREIGN_KEY if self.cross else KEY

    def labeled(self) -> list[Labeled]:
        return [("role", {"Version": "2012-10-17", "Statement": self.identity})]

    def key_document(self) -> dict[str, Any] | None:
        return None if self.key_policy is None else key_doc(*self.key_policy)


@st.composite
def worlds(draw: st.DrawFn, principals: list[tuple[str, Any]], cidrs: tuple[str, ...]) -> Grants:
    cross = draw(st.booleans())
    key = FOREIGN_KEY if cross else KEY
    identity = draw(st.lists(statement_strategy(key, None, cidrs), max_size=4))
    # Mostly with a key policy: that is where direct, delegated and cross-account differ.
    readable = draw(st.integers(0, 4)) > 0
    key_policy = draw(st.lists(statement_strategy(key, principals, cidrs), min_size=1, max_size=4)) if readable else None
    return Grants(cross, identity, key_policy)


# The brute force: written from the IAM/KMS rules, one address at a time, with ipaddress and fnmatch
# (the pools hold no `[`), no Ranges.


def as_list(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value)


def brute_applies(s: dict[str, Any], action: str, resource: str, addr: str) -> bool:
    if "Action" in s:
        ok = any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in as_list(s["Action"]))
    else:
        ok = not any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in as_list(s["NotAction"]))
    if "Resource" in s:
        ok = ok and any(fnmatch.fnmatchcase(resource, p) for p in as_list(s["Resource"]))
    else:
        ok = ok and not any(fnmatch.fnmatchcase(resource, p) for p in as_list(s["NotResource"]))
    for op, block in s.get("Condition", {}).items():
        for values in block.values():
            inside = any(ipaddress.ip_address(addr) in ipaddress.ip_network(c, strict=False) for c in as_list(values))
            ok = ok and (inside if op == "IpAddress" else not inside)
    return ok


def brute_reach(s: dict[str, Any]) -> str:
    element = "NotPrincipal" if "NotPrincipal" in s else "Principal"
    return brute_reach_of(element, s[element])


def brute_reach_of(element: str, p: Any) -> str:
    if element == "NotPrincipal":
        return "role"  # the pool's NotPrincipal names another role only
    names = ["*"] if p == "*" else as_list(p.get("AWS", []))
    if "*" in names or ROLE in names:
        return "role"
    return "account" if ROOT in names or ACCOUNT in names else "none"


def hits(stmts: list[dict[str, Any]], effect: str, action: str, key: str, addr: str, reach: str | None = None) -> bool:
    return any(s["Effect"] == effect and brute_applies(s, action, key, addr)
               and (reach is None or brute_reach(s) == reach) for s in stmts)


def brute_view(w: Grants, action: str, addr: str) -> tuple[bool, bool, bool]:
    """(the key policy allows the role itself, allows its account, denies either) from `addr`."""
    stmts = w.key_policy or []
    return (hits(stmts, "Allow", action, w.key, addr, "role"), hits(stmts, "Allow", action, w.key, addr, "account"),
            hits(stmts, "Deny", action, w.key, addr, "role") or hits(stmts, "Deny", action, w.key, addr, "account"))


def brute_allowed(w: Grants, action: str, addr: str) -> bool:
    role_allows, role_denies = hits(w.identity, "Allow", action, w.key, addr), hits(w.identity, "Deny", action, w.key, addr)
    if w.key_policy is None:
        return role_allows and not role_denies
    direct, delegated, key_denies = brute_view(w, action, addr)
    # Same account: the key policy alone may allow the role; across accounts the role's side must too.
    same_account = direct or (delegated and role_allows)
    cross_account = (direct or delegated) and role_allows
    return (cross_account if w.cross else same_account) and not role_denies and not key_denies


@given(st.lists(statement_strategy(KEY, None, V4_POOL + V6_POOL + HOST_BITS), min_size=1, max_size=4))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_identity_allowed_matches_a_brute_force(identity: list[dict[str, Any]]) -> None:
    w = Grants(cross=False, identity=identity, key_policy=None)
    for action in TESTED_ACTIONS:
        got = identity_allowed(w.labeled(), action=action, resource=KEY)
        for addr in SAMPLES:
            assert got.contains(addr) == brute_allowed(w, action, addr), (action, addr)


@given(worlds([*ROLE_PRINCIPALS, AWS_STAR], V4_POOL + V6_POOL + HOST_BITS))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_effective_allowed_matches_a_brute_force(w: Grants) -> None:
    for action in TESTED_ACTIONS:
        got = effective_allowed(w.labeled(), w.key_document(), role_arn=ROLE, key_arn=w.key, action=action)
        parts = key_policy_view(w.key_document() or key_doc(), role_arn=ROLE, key_arn=w.key, action=action)
        for addr in SAMPLES:
            assert got.contains(addr) == brute_allowed(w, action, addr), (action, addr)
            assert (parts.direct.contains(addr), parts.delegated.contains(addr), parts.denied.contains(addr)) == brute_view(
                w, action, addr), (action, addr)


def test_principalmapper_is_an_oracle_here() -> None:
    """The pools below stay within what principalmapper's simulator evaluates like AWS."""
    from tests.safety.pmapper_compat import Node, Policy, local_check_authorization_full

    node = Node(ROLE, "AROAEXAMPLEROLEID01", [Policy(ROLE, "kms", key_doc(stmt()))], None, {}, None, 0, False, False, None, False, None)
    assert local_check_authorization_full(node, "kms:Decrypt", KEY, {"aws:SourceIp": "192.0.2.1"}, key_doc(ADMIN), ACCOUNT)
    assert not local_check_authorization_full(node, "kms:Decrypt", KEY, {"aws:SourceIp": "192.0.2.16"}, key_doc(ADMIN), ACCOUNT)


# principalmapper refuses CIDRs with host bits set (ipaddress strict mode), so HOST_BITS is left out.
@given(worlds(ROLE_PRINCIPALS, V4_POOL + V6_POOL))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_effective_allowed_matches_principalmapper(w: Grants) -> None:
    from tests.safety.pmapper_compat import Node, Policy, local_check_authorization_full

    node = Node(ROLE, "AROAEXAMPLEROLEID01", [Policy(ROLE, "role", w.labeled()[0][1])], None, {}, None, 0, False, False, None, False, None)
    owner = w.key.split(":")[4]
    for action in TESTED_ACTIONS:
        got = effective_allowed(w.labeled(), w.key_document(), role_arn=ROLE, key_arn=w.key, action=action)
        for addr in SAMPLES:
            context = {"aws:SourceIp": addr}
            if w.key_policy is None:
                expected = local_check_authorization_full(node, action, w.key, context)
            else:
                expected = local_check_authorization_full(node, action, w.key, context, w.key_document(), owner)
            assert got.contains(addr) == bool(expected), (action, addr)
