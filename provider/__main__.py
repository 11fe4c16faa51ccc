"""The atlas-kms component provider: how the Pulumi engine runs this package.

`pulumi package add <this repo>/provider` (or a path to this folder) makes the engine start
`python <this folder> <engine address>`; the host prints its gRPC port and serves the schema and
`Construct` for `atlas-kms:index:AtlasKmsEncryption`, so any Pulumi language can create the component.
"""

import sys
from pathlib import Path

# The component and its pure code live in the repository beside this folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi.provider.experimental import component_provider_host

from components.package import COMPONENTS, PACKAGE, VERSION

if __name__ == "__main__":
    component_provider_host(name=PACKAGE, components=COMPONENTS, version=VERSION)  # type: ignore[arg-type]
