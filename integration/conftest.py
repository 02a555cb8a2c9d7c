"""The Docker multi-host harness's fixtures. Every test here is skipped when no Docker engine answers."""
import uuid

import pytest

from images import base_image, remove_labelled

docker = pytest.importorskip("docker")


@pytest.fixture(scope="session")
def docker_client():
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # no engine, no socket, no permission
        pytest.skip(f"no Docker engine: {exc}")
    return client


@pytest.fixture(scope="session")
def harness_image(docker_client):
    return base_image(docker_client)


@pytest.fixture
def run_label(docker_client):
    """A label value for everything one test starts; all of it is removed even when the test fails."""
    run = uuid.uuid4().hex[:8]
    yield run
    remove_labelled(docker_client, run)
