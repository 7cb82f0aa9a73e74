"""Each benchmark runs at a tiny size, so that it cannot rot. No timing is asserted here."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_core_throughput_smoke():
    result = subprocess.run(
        [sys.executable, "-m", "bench.core_throughput", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for stage in ("decode_validate", "decode_validate_tally", "full_core_with_records_and_windows"):
        assert stage in result.stdout


def test_worker_throughput_smoke():
    result = subprocess.run(
        [sys.executable, "-m", "bench.worker_throughput", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("raw_ceiling", "worker", "idiomatic_agent", "worker / raw ceiling"):
        assert name in result.stdout
