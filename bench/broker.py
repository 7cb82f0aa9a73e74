"""A local broker of the benchmark's own, in a temporary directory, stopped afterwards."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streamer.dev import localbroker
from tests.integration.harness import free_port


@contextmanager
def local_broker() -> Iterator[tuple[str, Path]]:
    """Yields the bootstrap address and a directory for logs."""
    port = free_port()
    localbroker.RUN_DIR = Path(tempfile.mkdtemp(prefix="bench-broker-"))
    localbroker.start(port)
    try:
        yield f"127.0.0.1:{port}", localbroker.RUN_DIR
    finally:
        localbroker.stop(port)
