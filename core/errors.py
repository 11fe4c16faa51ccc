"""The error every size budget raises. Its own module: core.policies and core.split both raise it."""

from __future__ import annotations


class PolicySizeError(ValueError):
    """The allowed addresses do not fit in what IAM or KMS lets one role or key carry."""
