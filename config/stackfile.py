"""Read a `Pulumi.<stack>.yaml` file into the engine's flat config form. Pure code.

Used by the offline preview and the drift command, which run without the Pulumi CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml


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

    Secure (encrypted) values are skipped: they cannot be read without the Pulumi
    service, and none of atlas-kms's own settings is a secret.
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
            flat[str(key)] = json.dumps(value)
        else:
            flat[str(key)] = str(value)
    return flat
