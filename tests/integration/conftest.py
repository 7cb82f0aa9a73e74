import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer.dev import localbroker
from tests.integration.harness import Topics, WorkerProcess, free_port


@pytest.fixture(scope="session")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The local broker on a free port, or the cluster named by KAFKA_BOOTSTRAP."""
    if os.environ.get("KAFKA_BOOTSTRAP"):
        yield os.environ["KAFKA_BOOTSTRAP"]
        return
    localbroker.RUN_DIR = tmp_path_factory.mktemp("broker")
    port = free_port()
    localbroker.start(port)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        localbroker.stop(port)


@pytest.fixture
def topics() -> Topics:
    return Topics()


@pytest.fixture
def workers(bootstrap: str, topics: Topics, tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    """Started workers are stopped after the test, whatever happens; their logs stay in tmp_path."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


@pytest.fixture
def new_worker(bootstrap: str, topics: Topics, tmp_path: Path, workers: list[WorkerProcess]):
    def make(**env: str) -> WorkerProcess:
        worker = WorkerProcess(bootstrap, topics, tmp_path, **env)
        workers.append(worker)
        return worker.start()

    return make
