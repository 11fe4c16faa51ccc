"""One contract, three faces: stack config, the component's Args, the package schema. Pure code.

The component's Args carry the `atlas-kms:*` stack settings under their Python (snake_case) names; the
package schema shows them under the same camelCase names as the stack config. These two functions move
between the two spellings, so that the component validates whatever reaches it with the one
`parse_settings`, and every error still names the setting as the stack config spells it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from config.settings import SettingsError
from core.settings import NAMESPACE

# Settings whose value may be the word "all" or a list: Args carry them as lists (the schema has no unions).
ALL_OR_LIST = ("controlPlane", "clusters")
# Outside the atlas-kms namespace, yet Args of the component.
PROVIDER_ARGS = {"is_mongodbgov_cloud": "mongodbatlas:isMongodbgovCloud"}
COMPONENT_ONLY = ("default_tags",)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def _decode(value: Any) -> Any:
    """Pulumi hands config objects (and `true`/`false`) over as JSON strings; Args are plain values. The same
    rule as config.settings reads them with, so a value means one thing whichever way it comes in."""
    if isinstance(value, str) and (value.strip()[:1] in ("{", "[") or value.strip() in ("true", "false")):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value  # left as written: parse_settings reports it with the fix
    return value


def _keys(value: Any, rename: Any) -> Any:
    if isinstance(value, Mapping):
        return {rename(k): _keys(v, rename) for k, v in value.items()}
    return value


def args_from_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """`atlas-kms:*` stack config (namespaced camelCase, objects as JSON) -> the component's Args dict.

    Unknown keys are carried over under their snake_case spelling, so that the component's validation
    still reports them by the name the user wrote.
    """
    args: dict[str, Any] = {}
    misspelt = [key for key in config if key.startswith(f"{NAMESPACE}:") and camel(snake(key.split(":", 1)[1])) != key.split(":", 1)[1]]
    if misspelt:
        # `atlas-kms:project_id` would become the Arg project_id and pass as projectId: refused by its own name.
        raise SettingsError([f"{key}: unknown setting; stack settings are spelt in camelCase, like "
                             f"{NAMESPACE}:{camel(snake(key.split(':', 1)[1]))}" for key in sorted(misspelt)])
    for key, raw in config.items():
        if not key.startswith(f"{NAMESPACE}:"):
            continue
        name = key.split(":", 1)[1]
        value = _keys(_decode(raw), snake)
        if isinstance(value, dict):
            for field in ALL_OR_LIST:
                if value.get(snake(field)) == "all":
                    value[snake(field)] = ["all"]
        args[snake(name)] = value
    return args


def config_from_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """The component's Args (snake_case) -> the stack-config mapping `parse_settings` validates."""
    config: dict[str, Any] = {}
    for key, value in args.items():
        if key in PROVIDER_ARGS or key in COMPONENT_ONLY:
            continue
        value = _keys(value, camel)
        if isinstance(value, dict):
            for field in ALL_OR_LIST:
                if value.get(field) == ["all"]:
                    value[field] = "all"
        config[f"{NAMESPACE}:{camel(key)}"] = value
    return config
