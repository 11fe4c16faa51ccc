"""The AWS regions Atlas accepts for a KMS key, in Atlas's own names. Pure data.

Copied from the `region` enum of the `AWSKMSConfiguration` schema of the Atlas Admin API v2 spec, as
vendored by mongodb/terraform-provider-mongodbatlas (`tools/codegen/atlasapispec/
multi-version-api-spec.flattened.yml`, 2026-08 snapshot). `GLOBAL` is left out: it names no region a key
can live in. `US_GOV_*` exist only on Atlas for Government (`mongodbatlas:isMongodbgovCloud`).
https://www.mongodb.com/docs/api/doc/atlas-admin-api-v2/operation/operation-updategroupencryptionatrest
Atlas refuses any other value (400 INVALID_ENUM_VALUE), whatever its AWS spelling, so the program checks
the key's region against this table and converts with it rather than with a regular expression.
"""

from __future__ import annotations

# AWS region name -> Atlas enum name.
ATLAS_AWS_REGIONS: dict[str, str] = {
    "us-gov-west-1": "US_GOV_WEST_1",
    "us-gov-east-1": "US_GOV_EAST_1",
    "us-east-1": "US_EAST_1",
    "us-east-2": "US_EAST_2",
    "us-west-1": "US_WEST_1",
    "us-west-2": "US_WEST_2",
    "ca-central-1": "CA_CENTRAL_1",
    "eu-north-1": "EU_NORTH_1",
    "eu-west-1": "EU_WEST_1",
    "eu-west-2": "EU_WEST_2",
    "eu-west-3": "EU_WEST_3",
    "eu-central-1": "EU_CENTRAL_1",
    "eu-central-2": "EU_CENTRAL_2",
    "ap-east-1": "AP_EAST_1",
    "ap-east-2": "AP_EAST_2",
    "ap-northeast-1": "AP_NORTHEAST_1",
    "ap-northeast-2": "AP_NORTHEAST_2",
    "ap-northeast-3": "AP_NORTHEAST_3",
    "ap-southeast-1": "AP_SOUTHEAST_1",
    "ap-southeast-2": "AP_SOUTHEAST_2",
    "ap-southeast-3": "AP_SOUTHEAST_3",
    "ap-southeast-4": "AP_SOUTHEAST_4",
    "ap-southeast-5": "AP_SOUTHEAST_5",
    "ap-southeast-6": "AP_SOUTHEAST_6",
    "ap-southeast-7": "AP_SOUTHEAST_7",
    "ap-south-1": "AP_SOUTH_1",
    "ap-south-2": "AP_SOUTH_2",
    "sa-east-1": "SA_EAST_1",
    "cn-north-1": "CN_NORTH_1",
    "cn-northwest-1": "CN_NORTHWEST_1",
    "me-south-1": "ME_SOUTH_1",
    "me-central-1": "ME_CENTRAL_1",
    "af-south-1": "AF_SOUTH_1",
    "eu-south-1": "EU_SOUTH_1",
    "eu-south-2": "EU_SOUTH_2",
    "il-central-1": "IL_CENTRAL_1",
    "ca-west-1": "CA_WEST_1",
    "mx-central-1": "MX_CENTRAL_1",
}

# Regions only Atlas for Government serves.
GOV_ONLY_REGIONS = frozenset(r for r in ATLAS_AWS_REGIONS if r.startswith("us-gov-"))
