"""Errors every layer shares: a size budget exceeded (core.policies and core.split raise it), a fact that
could not be read (the Atlas client, the drift command and the program's lookups raise it)."""

from __future__ import annotations


class PolicySizeError(ValueError):
    """The allowed addresses do not fit in what IAM or KMS lets one role or key carry."""


class ReadError(Exception):
    """Something Atlas or AWS was asked could not be read; the message is the one-line reason. Nothing is
    decided on a guess: the program stops, the drift command exits 2."""
