"""``make run``: the local broker, one worker and simulated traffic, with live scores.

Ctrl-C stops everything it started (simulator, worker, broker) and frees the ports, so a second
``make run`` starts clean. A worker left over from a run that was killed is stopped first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson

from streamer.app.settings import Settings
from streamer.core.events import DIMENSIONS
from streamer.dev import localbroker

RUN = localbroker.RUN_DIR
WORKER_PID = RUN / "demo-worker.pid"


def _get(url: str, timeout: float = 2.0) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bytes(response.read())
    except OSError:
        return None


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # Ctrl-C reaches only this script, which stops children in order
    )


def stop_group(process: subprocess.Popen[bytes] | None, grace_s: float = 15.0) -> None:
    """SIGTERM a child's process group, then SIGKILL what is left after ``grace_s``."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _stop_leftover_worker() -> None:
    try:
        pid = int(WORKER_PID.read_text())
    except (OSError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
        print(f"stopped a worker left over from an earlier run (pid {pid})")
    WORKER_PID.unlink(missing_ok=True)


def _start_observability(worker_base: str) -> list[tuple[str, subprocess.Popen[bytes]]]:
    """Prometheus and Alertmanager, when installed (scripts/install-observability.sh)."""
    if not (shutil.which("prometheus") and shutil.which("prometheus-alertmanager")):
        return []
    deploy = Path(__file__).parents[2] / "deploy"
    config = RUN / "prometheus.yml"
    config.write_text(
        orjson.dumps(
            {
                "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
                "rule_files": [str(deploy / "prometheus" / "recording_rules.yml")],
                "alerting": {
                    "alertmanagers": [{"static_configs": [{"targets": ["127.0.0.1:9093"]}]}]
                },
                "scrape_configs": [
                    {
                        "job_name": "streamer",
                        "static_configs": [{"targets": [worker_base.split("//")[1]]}],
                    }
                ],
            }
        ).decode()
    )
    (RUN / "alertmanager.yml").write_text(
        "route: {receiver: 'null', group_wait: 5s}\nreceivers: [{name: 'null'}]\n"
    )
    env = dict(os.environ)
    return [
        (
            "prometheus",
            _spawn(
                [
                    "prometheus",
                    f"--config.file={config}",
                    f"--storage.tsdb.path={RUN / 'prometheus-data'}",
                    "--web.listen-address=127.0.0.1:9090",
                ],
                RUN / "prometheus.log",
                env,
            ),
        ),
        (
            "alertmanager",
            _spawn(
                [
                    "prometheus-alertmanager",
                    f"--config.file={RUN / 'alertmanager.yml'}",
                    f"--storage.path={RUN / 'alertmanager-data'}",
                    "--web.listen-address=127.0.0.1:9093",
                    "--cluster.listen-address=",
                ],
                RUN / "alertmanager.log",
                env,
            ),
        ),
    ]


class AlertLines:
    """The worker log's alert transitions since the last look, for the console: on-call staff
    see a page fire and resolve next to the scores, not only in a log file."""

    def __init__(self, log: Path) -> None:
        self._log = log
        self._offset = log.stat().st_size if log.exists() else 0

    def new(self) -> list[str]:
        try:
            with self._log.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except OSError:
            return []
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        found = []
        for raw in complete.decode("utf-8", "replace").splitlines():
            _, marker, rest = raw.partition("alert ")
            if marker and rest.startswith(("firing:", "resolved:")):
                status, _, summary = rest.partition(": ")
                found.append(f"ALERT {status.upper()}: {summary}")
        return found


def _table(base: str) -> str:
    body = _get(f"{base}/scores")
    if body is None:
        return "  (worker not answering)"
    rows: dict[str, dict[str, str]] = {}
    for row in orjson.loads(body)["series"]:
        if row["window"] != "5m" or any(name in row for name in DIMENSIONS):
            continue  # touchpoint series only, not their breakdowns
        cells = rows.setdefault(row["touchpoint"], {})
        for kind, score in row["scores"].items():
            if score is not None:
                value = score["value"]
                cells[kind] = f"{value:6.1f}" if kind in ("nps", "ces_mean") else f"{value:6.1%}"
                cells[f"n_{row['metric']}"] = str(row["n"])
    columns = ("nps", "n_nps", "csat", "ces_mean", "ces_agree")
    lines = [f"  {'touchpoint':14s} {'NPS':>7s} {'(n)':>5s} {'CSAT':>7s} {'CES':>7s} {'agree':>7s}"]
    for touchpoint, cells in sorted(rows.items()):
        values = [cells.get(column, "-") for column in columns]
        lines.append(
            f"  {touchpoint:14s} "
            + " ".join(f"{v:>7s}" if i != 1 else f"{v:>5s}" for i, v in enumerate(values))
        )
    return "\n".join(lines)


def main() -> int:
    settings = Settings()
    host, _, port_text = settings.kafka.bootstrap.rpartition(":")
    # A local bootstrap gets the local broker; anything else is the user's own Kafka.
    port = int(port_text) if host in ("127.0.0.1", "localhost") else None
    base = f"http://{settings.web_host}:{settings.web_port}"
    RUN.mkdir(parents=True, exist_ok=True)
    _stop_leftover_worker()
    worker = simulator = None
    extras: list[tuple[str, subprocess.Popen[bytes]]] = []
    stopping = False

    def interrupt(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        if port is not None:
            print(f"starting the local broker on 127.0.0.1:{port} ...")
            localbroker.start(port)
        extras = _start_observability(base)
        env = {
            **os.environ,
            "STREAMER_DIMENSIONS": os.environ.get("STREAMER_DIMENSIONS", "channel"),
            # 10s buckets: the demo's drop detector reads a bucket 10 s after it ends, so the
            # scripted drop pages within a couple of minutes (deploy/rules.demo.yaml).
            "STREAMER_WINDOWS": os.environ.get("STREAMER_WINDOWS", "1m,5m,1h,24h,7d"),
            "STREAMER_BUCKET": os.environ.get("STREAMER_BUCKET", "10s"),
            "STREAMER_DATA_DIR": os.environ.get("STREAMER_DATA_DIR", str(RUN / "worker-data")),
            "STREAMER_RULES": os.environ.get(
                "STREAMER_RULES", str(Path(__file__).parents[2] / "deploy" / "rules.demo.yaml")
            ),
        }
        if extras:
            env.setdefault("STREAMER_ALERTMANAGER_URL", "http://127.0.0.1:9093")
        worker = _spawn([sys.executable, "-m", "streamer.cli", "worker"], RUN / "worker.log", env)
        WORKER_PID.write_text(str(worker.pid))
        print(f"starting a worker (log: {RUN / 'worker.log'}) ...")
        started = time.monotonic()
        while _get(f"{base}/readyz") is None:  # 503 until recovered and connected
            if stopping:
                return 0
            if worker.poll() is not None:
                print(f"the worker exited; see {RUN / 'worker.log'}")
                return 1
            if time.monotonic() - started > 120:
                print(f"the worker is not ready after 2 minutes; see {RUN / 'worker.log'}")
                return 1
            time.sleep(1)
        drop = os.environ.get("STREAMER_DEMO_DROP", "checkout:nps:-40@120s")
        simulator = _spawn(
            [
                sys.executable,
                "-m",
                "streamer.cli",
                "simulate",
                "--rate",
                os.environ.get("STREAMER_DEMO_RATE", "50"),
                "--drop",
                drop,
            ],
            RUN / "simulate.log",
            env,
        )
        observability = (
            "  prometheus   http://127.0.0.1:9090\n"
            "  alertmanager http://127.0.0.1:9093 (the drop pages here)\n"
            if extras
            else "  (no Prometheus or Alertmanager installed: `make observability` adds them)\n"
        )
        print(f"""
streamer is running (ready in {time.monotonic() - started:.0f}s); simulated traffic at 50 events/s,
with a scripted drop: {drop}

  metrics   {base}/metrics
  scores    {base}/scores
  health    {base}/healthz   {base}/readyz
  logs      {RUN}/worker.log   {RUN}/simulate.log
{observability}
Ctrl-C stops everything.
""")
        shown = 0.0
        alerts = AlertLines(RUN / "worker.log")
        while not stopping:
            if worker.poll() is not None:
                print(f"the worker exited with {worker.returncode}; see {RUN / 'worker.log'}")
                return 1
            for line in alerts.new():
                print(time.strftime("%H:%M:%S"), line, flush=True)
            if time.monotonic() - shown >= 10:
                shown = time.monotonic()
                print(time.strftime("%H:%M:%S"), "scores over the last 5 minutes:")
                print(_table(base), flush=True)
            time.sleep(0.5)
        return 0
    finally:
        print("\nstopping ...")
        stop_group(simulator)
        stop_group(worker)
        for _, process in extras:
            stop_group(process)
        WORKER_PID.unlink(missing_ok=True)
        if port is not None:
            localbroker.stop(port)
        print("stopped.")


if __name__ == "__main__":
    sys.exit(main())
