"""atlas-kms: MongoDB Atlas encryption at rest with an AWS KMS customer key.

The only place that reads stack config: the `atlas-kms:*` settings become the component's Args under
the same names (config/args.py), and the component validates them, every problem naming its setting,
before any of its resources is registered. See README.md for every key.
"""

from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from components.atlas_kms import AtlasKmsEncryption, AtlasKmsEncryptionArgs
from config.args import args_from_config
from config.settings import ATLAS_GOV_SETTING, SettingsError, parse_settings
from core.settings import NAMESPACE


def _raw_config() -> dict[str, Any]:
    """Every `atlas-kms:*` key the stack sets, including misspelt ones, to report them."""
    merged: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return {k: v for k, v in merged.items() if k.startswith(f"{NAMESPACE}:")}


def _default_tags() -> dict[str, str]:
    raw = pulumi.Config("aws").get_object("defaultTags") or {}
    tags = raw.get("tags", {}) if isinstance(raw, dict) else {}
    return {str(k): str(v) for k, v in tags.items()}


def load_args() -> AtlasKmsEncryptionArgs:
    raw = _raw_config()
    # The provider's own setting: Atlas for Government assumes roles from another partition.
    gov = pulumi.Config("mongodbatlas").get(ATLAS_GOV_SETTING.split(":", 1)[1])
    try:
        # The stack config as written, before anything is registered: a key spelt another way
        # (`project_id`) is refused here by its own name, as the drift command refuses it. `aws:region`, when
        # the stack sets it, is the default provider's region and fixes the partition, so an ARN of another
        # partition is refused here too, not only once the component has asked the provider.
        parse_settings(raw, stack=pulumi.get_stack(), aws_region=pulumi.Config("aws").get("region"),
                       atlas_gov=gov, region_pending=True)
    except SettingsError as exc:
        raise pulumi.RunError(str(exc)) from exc
    args: dict[str, Any] = args_from_config(raw)
    alerts = args.get("alerts")
    if isinstance(alerts, dict) and isinstance(alerts.get("webhook_url"), str):
        # Set with `pulumi config set --secret --path`, it must stay secret in the state.
        alerts["webhook_url"] = pulumi.Output.secret(alerts["webhook_url"])
    if gov is not None:
        args["is_mongodbgov_cloud"] = gov
    tags = _default_tags()
    if tags:
        args["default_tags"] = tags
    return args  # type: ignore[return-value]


encryption = AtlasKmsEncryption("atlas-kms", load_args())

pulumi.export("mode", encryption.mode)
pulumi.export("keyArn", encryption.key_arn)
pulumi.export("keyRegion", encryption.key_region)
pulumi.export("roleArn", encryption.role_arn)
pulumi.export("atlasRoleId", encryption.atlas_role_id)
pulumi.export("allowedCidrs", encryption.allowed_cidrs)
pulumi.export("encryptionValid", encryption.encryption_valid)
pulumi.export("retainedKeyArns", encryption.retained_key_arns)
pulumi.export("privateEndpoints", encryption.private_endpoints)
if encryption.key_policy_statement_for_owner is not None:
    pulumi.export("keyPolicyStatementForOwner", encryption.key_policy_statement_for_owner)
    pulumi.export("keyPolicyStatementsForOwner", encryption.key_policy_statements_for_owner)
