"""`make drift-demo` works as the README says: three real runs of the command, exit 0, 1, 1."""

from __future__ import annotations

import contextlib
import io

from offline.drift_demo import main as demo


def test_the_drift_demo_shows_in_sync_a_new_node_and_a_denied_call() -> None:
    # In this process (`make drift-demo` runs `python -m offline.drift_demo`, whose main this is).
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = demo()
    out = printed.getvalue()
    assert code == 0, out
    assert "stack prod: OK, 31 CIDRs allowed as expected" in out
    assert "missing  198.51.100.150/32" in out
    assert "denied   3 call(s) of kms:Decrypt from 198.51.100.150 (cluster orders) refused (AccessDenied)" in out
