"""atlas-kms: MongoDB Atlas encryption at rest with an AWS KMS customer key.

The only place that reads stack config. It is turned into one validated Settings
object before any resource is registered; see README.md for every key.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi.runtime import config as runtime_config

from components.atlas_kms import AtlasKmsEncryption, AtlasKmsEncryptionArgs
from config.settings import ATLAS_GOV_SETTING, NAMESPACE, Settings, SettingsError, parse_settings


def _raw_config() -> dict[str, Any]:
    """Every `atlas-kms:*` key the stack sets, including misspelt ones, to report them."""
    merged: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return {k: v for k, v in merged.items() if k.startswith(f"{NAMESPACE}:")}


def _default_tags() -> dict[str, str]:
    raw = pulumi.Config("aws").get_object("defaultTags") or {}
    tags = raw.get("tags", {}) if isinstance(raw, dict) else {}
    return {str(k): str(v) for k, v in tags.items()}


def load_settings() -> Settings:
    aws_region = pulumi.Config("aws").get("region")
    raw = _raw_config()
    # The provider's own setting: Atlas for Government assumes roles from another partition.
    atlas_gov = pulumi.Config("mongodbatlas").get(ATLAS_GOV_SETTING.split(":", 1)[1])
    try:
        # Fail on the config alone first, before asking AWS anything.
        parse_settings(raw, stack=pulumi.get_stack(), aws_region=aws_region, atlas_gov=atlas_gov)
    except SettingsError as exc:
        raise pulumi.RunError(str(exc)) from exc
    # The credentials' account decides whether an existing key is cross-account.
    identity = aws.get_caller_identity()
    try:
        return parse_settings(
            raw,
            stack=pulumi.get_stack(),
            aws_region=aws_region,
            role_account=identity.account_id,
            role_partition=identity.arn.split(":")[1],
            atlas_gov=atlas_gov,
        )
    except SettingsError as exc:
        raise pulumi.RunError(str(exc)) from exc


settings = load_settings()
encryption = AtlasKmsEncryption(
    "atlas-kms", AtlasKmsEncryptionArgs(settings=settings, default_tags=_default_tags())
)

pulumi.export("mode", settings.mode.name.lower().replace("_", "-"))
pulumi.export("keyArn", encryption.key_arn)
pulumi.export("keyRegion", settings.key_region)
pulumi.export("roleArn", encryption.role_arn)
pulumi.export("atlasRoleId", encryption.atlas_role_id)
pulumi.export("allowedCidrs", encryption.allowed_cidrs)
pulumi.export("encryptionValid", encryption.encryption_valid)
if encryption.key_policy_statement_for_owner is not None:
    pulumi.export("keyPolicyStatementForOwner", encryption.key_policy_statement_for_owner)
