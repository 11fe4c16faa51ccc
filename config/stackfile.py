"""Read a `Pulumi.<stack>.yaml` file into the engine's flat config form. Pure code.

Used by the offline preview and the drift command, which run without the Pulumi CLI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from config.settings import SECRET_IN_STACK_FILE


class StackFileError(ValueError):
    pass


def stack_name(path: Path) -> str:
    """`Pulumi.prod.yaml` -> `prod`."""
    name = path.name
    if not (name.startswith("Pulumi.") and name.endswith((".yaml", ".yml"))):
        raise StackFileError(f"{path}: a stack config file is named Pulumi.<stack>.yaml")
    return name[len("Pulumi.") :].rsplit(".", 1)[0]


def read_stack_config(path: Path) -> dict[str, str]:
    """Flat `namespace:key -> string` config, objects as JSON, as the engine passes it.

    Secure (encrypted) values cannot be read without the Pulumi engine: a top-level one is skipped,
    a nested one (`pulumi config set --secret --path 'atlas-kms:alerts.webhookUrl'`) stands as
    SECRET_IN_STACK_FILE, so that what checks the setting knows it is there.
    """
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise StackFileError(f"{path}: cannot read the stack config ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("config", {}), dict):
        raise StackFileError(f"{path}: expected a mapping with a `config:` section")
    flat: dict[str, str] = {}
    for key, value in (data.get("config") or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            continue
        if isinstance(value, dict | list | bool):
            flat[str(key)] = json.dumps(_mask_secure(value))
        else:
            flat[str(key)] = str(value)
    return flat


def _mask_secure(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_IN_STACK_FILE
        return {k: _mask_secure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_secure(v) for v in value]
    return value
