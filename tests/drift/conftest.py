"""Fixtures of the drift tests: the Atlas stand-in and moto's IAM/KMS server on 127.0.0.1 (standins/)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from standins.atlas import (
    KEY_ARN,
    PRIVATE,
    PROJECT,
    PUBLIC,
    AtlasState,
    access_answer,
    atlas_uses,
    create_key,
    deploy_role,
    expected_documents,
    mutate,
    project_of_clusters,
    running_atlas,
    sample_control_plane,
    sample_project,
    snapshot,
    snapshot_page,
    write_stack,
)

# The tests' vocabulary, imported from here.
__all__ = ["KEY_ARN", "PRIVATE", "PROJECT", "PUBLIC", "AtlasState", "access_answer", "atlas", "atlas_uses", "create_key", "deploy_role", "expected_documents", "iam", "kms", "moto_url", "mutate", "project_of_clusters", "running_atlas", "sample_control_plane", "sample_project", "snapshot", "snapshot_page", "write_stack"]


@pytest.fixture()
def atlas(monkeypatch: pytest.MonkeyPatch) -> Iterator[AtlasState]:
    state = AtlasState()
    with running_atlas(state) as url:
        monkeypatch.setenv("MONGODB_ATLAS_BASE_URL", url)
        monkeypatch.setenv("MONGODB_ATLAS_PUBLIC_KEY", PUBLIC)
        monkeypatch.setenv("MONGODB_ATLAS_PRIVATE_KEY", PRIVATE)
        yield state


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture()
def iam(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("iam")
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=5).close()
    yield client


@pytest.fixture()
def kms(iam: Any) -> Any:
    """moto's KMS on the same server (reset with IAM), in the stacks' region."""
    return boto3.client("kms", region_name="eu-west-2")
