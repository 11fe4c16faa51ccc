"""`make drift-demo` works as the README says: three real runs of the command, exit 0, 1, 1."""

from __future__ import annotations

import subprocess
import sys

from offline.harness import ROOT


def test_the_drift_demo_shows_in_sync_a_new_node_and_a_denied_call() -> None:
    done = subprocess.run([sys.executable, "-m", "offline.drift_demo"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "stack prod: OK, 31 CIDRs allowed as expected" in out
    assert "missing  198.51.100.150/32" in out
    assert "denied   3 call(s) of kms:Decrypt from 198.51.100.150 (cluster orders) refused (AccessDenied)" in out
