"""What an SRE meets running a worker: any working directory, JSON logs, build and process
metrics, and a web config file (TLS and basic auth) guarding the scores."""

import base64
import json
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from datetime import datetime
from importlib.metadata import version

import bcrypt
import pytest

from tests.integration.harness import WorkerProcess, value

pytestmark = pytest.mark.integration


def test_a_worker_started_elsewhere_keeps_its_state_under_xdg_and_logs_json(
    bootstrap, topics, tmp_path, workers
):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    worker = WorkerProcess(
        bootstrap,
        topics,
        tmp_path,
        cwd=elsewhere,
        XDG_STATE_HOME=str(tmp_path / "state"),
        STREAMER_WEB_HOST="0.0.0.0",
        STREAMER_LOG_FORMAT="json",
        STREAMER_LOG_LEVEL="info",
    )
    del worker.env["STREAMER_DATA_DIR"]  # the default, as a new user has it
    workers.append(worker.start())
    worker.wait_ready(60)

    assert (tmp_path / "state" / "streamer").is_dir()
    samples = worker.metrics()
    build = {
        "version": version("streamer"),
        "python": ".".join(map(str, __import__("sys").version_info[:3])),
        "faust": version("faust-streaming"),
    }
    assert value(samples, "streamer_build_info", **build) == 1
    assert value(samples, "process_resident_memory_bytes") > 0
    assert value(samples, "process_open_fds") > 0

    entries = [json.loads(line) for line in worker.log.read_text().splitlines()]
    assert entries, "the worker logged nothing"
    for entry in entries:
        assert {"ts", "level", "logger", "message"} <= entry.keys()
        assert datetime.fromisoformat(entry["ts"]).utcoffset().total_seconds() == 0
    assert "debug" not in {entry["level"] for entry in entries}
    hint = [e["message"] for e in entries if "STREAMER_PUBLIC_URL" in e["message"]]
    assert hint == [
        f"alert links point at http://{socket.gethostname()}:{worker.port}; "
        "set STREAMER_PUBLIC_URL to how people reach this worker"
    ]


def self_signed(directory):
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(directory / "server.key"), "-out", str(directory / "server.crt"),
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return directory / "server.crt"


def status(worker, path, credentials=None):
    request = urllib.request.Request(worker.base + path)
    if credentials:
        token = base64.b64encode(credentials.encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10, context=worker.tls) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_the_web_config_file_serves_https_and_asks_for_a_password(
    bootstrap, topics, tmp_path, workers
):
    certificate = self_signed(tmp_path)
    hashed = bcrypt.hashpw(b"scrape-me", bcrypt.gensalt(4)).decode()
    (tmp_path / "web.yml").write_text(
        "tls_server_config: {cert_file: server.crt, key_file: server.key}\n"
        f"basic_auth_users: {{prometheus: '{hashed}'}}\n"
    )
    client = ssl.create_default_context(cafile=certificate)
    worker = WorkerProcess(
        bootstrap, topics, tmp_path, tls=client, STREAMER_WEB_CONFIG_FILE=str(tmp_path / "web.yml")
    )
    workers.append(worker.start())
    worker.wait_ready(60)  # /readyz needs no password

    assert status(worker, "/healthz")[0] == 200
    for path in ("/metrics", "/scores"):
        code, headers, _ = status(worker, path)
        assert code == 401 and headers["WWW-Authenticate"].startswith("Basic ")
        assert status(worker, path, "prometheus:wrong")[0] == 401
        assert status(worker, path, "someone:scrape-me")[0] == 401
    code, _, body = status(worker, "/metrics", "prometheus:scrape-me")
    assert code == 200 and b"streamer_series" in body
    assert status(worker, "/scores", "prometheus:scrape-me")[0] == 200

    plain = urllib.request.Request(f"http://127.0.0.1:{worker.port}/healthz")
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(plain, timeout=5)
