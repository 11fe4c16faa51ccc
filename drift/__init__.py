"""`python -m drift`: does the role's live KMS policy still allow every address Atlas uses?

No Pulumi CLI, no Pulumi state, no Pulumi import: Atlas Admin API v2 + AWS IAM + the
program's own pure functions (core/), so the expectation is exactly what `pulumi up` writes.
"""
