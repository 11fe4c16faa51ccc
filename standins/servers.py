"""The drift command's stand-ins on 127.0.0.1, started together: the Atlas Admin API stand-in
(standins/atlas.py) and moto's IAM/KMS server. Used by `make drift-demo` and `make bench`; the tests
start the same stand-ins through their fixtures (tests/drift/conftest.py)."""

from __future__ import annotations

import logging
import os
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from moto.server import ThreadedMotoServer

from standins.atlas import PRIVATE, PUBLIC, AtlasState, running_atlas


@contextmanager
def environment(values: Mapping[str, str], unset: tuple[str, ...] = ()) -> Iterator[None]:
    """`values` set (and `unset` removed) in os.environ while inside; everything as it was afterwards."""
    saved = {k: os.environ.get(k) for k in (*values, *unset)}
    os.environ.update(values)
    for k in unset:
        os.environ.pop(k, None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def drift_standins(*, latency: float = 0.0) -> Iterator[tuple[Any, dict[str, str]]]:
    """(the Atlas stand-in's state, the environment the command needs), set in os.environ meanwhile."""
    # moto's server logs every request through werkzeug; the output is the command's, not the access log.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    state = AtlasState(latency=latency)
    atlas = running_atlas(state)
    atlas_url = atlas.__enter__()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    # moto keeps its backends in the process, shared by every server it starts there: begin empty.
    urllib.request.urlopen(urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST"), timeout=5).close()
    # "testing" is also what the CloudTrail stand-in checks signatures with.
    env = {"MONGODB_ATLAS_BASE_URL": atlas_url, "MONGODB_ATLAS_PUBLIC_KEY": PUBLIC,
           "MONGODB_ATLAS_PRIVATE_KEY": PRIVATE, "AWS_ENDPOINT_URL": f"http://{host}:{port}",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-2"}
    try:
        with environment(env, unset=("AWS_PROFILE",)):
            yield state, env
    finally:
        moto.stop()
        atlas.__exit__(None, None, None)
