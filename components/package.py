"""The atlas-kms component package: its name, version and inferred schema (provider/ serves it).

The schema is inferred from the component's type hints by Pulumi's analyzer; `provider/schema.json` is
the checked-in copy for review, and a test fails when the two drift apart.
"""

from __future__ import annotations

import json
from typing import Any

from pulumi.provider.experimental.component import ComponentProvider

from components.atlas_kms import AtlasKmsEncryption

PACKAGE = "atlas-kms"
VERSION = "0.1.0"
COMPONENTS = [AtlasKmsEncryption]


def component_provider() -> ComponentProvider:
    return ComponentProvider(COMPONENTS, PACKAGE, version=VERSION)  # type: ignore[arg-type]


def schema() -> dict[str, Any]:
    text = component_provider().schema
    assert text is not None  # the analyzer always produces one, or raises
    return dict(json.loads(text))


if __name__ == "__main__":
    # venv/bin/python -m components.package > provider/schema.json
    print(json.dumps(schema(), indent=2, sort_keys=True))
