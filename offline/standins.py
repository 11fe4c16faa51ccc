"""The drift command's stand-ins on 127.0.0.1, started together: the Atlas Admin API stand-in and
moto's IAM/KMS server of the test suite (tests/drift/conftest.py). Used by `make drift-demo` and
`make bench`; the tests start them through their own fixtures."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from typing import Any

from moto.server import ThreadedMotoServer


@contextmanager
def drift_standins(*, latency: float = 0.0) -> Iterator[tuple[Any, dict[str, str]]]:
    """(the Atlas stand-in's state, the environment the command needs), set in os.environ meanwhile."""
    from tests.drift.conftest import PRIVATE, PUBLIC, AtlasStandIn, AtlasState

    # moto's server logs every request through werkzeug; the output is the command's, not the access log.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    state = AtlasState(latency=latency)
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (AtlasStandIn,), {"state": state, "nonces": set()}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    # "testing" is also what the CloudTrail stand-in checks signatures with.
    env = {"MONGODB_ATLAS_BASE_URL": f"http://127.0.0.1:{server.server_address[1]}", "MONGODB_ATLAS_PUBLIC_KEY": PUBLIC,
           "MONGODB_ATLAS_PRIVATE_KEY": PRIVATE, "AWS_ENDPOINT_URL": f"http://{host}:{port}",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-2"}
    saved = {k: os.environ.get(k) for k in (*env, "AWS_PROFILE")}
    os.environ.update(env)
    os.environ.pop("AWS_PROFILE", None)
    try:
        yield state, env
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        moto.stop()
        server.shutdown()
        server.server_close()
