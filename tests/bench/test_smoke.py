"""Each benchmark runs at a tiny size, so that it cannot rot. No timing is asserted here."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(
    ("command", "figures"),
    [
        (
            "bench.core_throughput",
            [
                "decode_validate",
                "decode_validate_tally",
                "pure_python_floor",
                "full_core_with_records_and_windows",
                "backfill_30d_sparse",
            ],
        ),
        (
            "bench.worker_throughput",
            ["raw_ceiling", "worker", "two_workers", "idiomatic_agent", "worker / raw ceiling"],
        ),
        ("bench.freshness", ["p50", "p95", "p99"]),
        ("bench.memory", ["state RSS at each reading", "bytes per series"]),
        ("bench.changelog_bytes", ["commit every   100 ms", "commit every  5000 ms"]),
        (
            "bench.changelog_bytes --worker",
            ["exported_bytes_per_answer", "changelog_bytes_per_answer", "restart_to_ready"],
        ),
        ("bench.recovery", ["first start", "restart to ready", "restart to exact"]),
        ("bench.restore", ["restore_s", "us_per_bucket", "totals_digest"]),
        ("bench.alert_quality", ["stationary", "per_100_series_weeks", "median_minutes"]),
        ("bench.scrape", ["series", "samples", "event_loop_ms", "render_s"]),
    ],
)
def test_benchmark_smoke(command, figures):
    result = subprocess.run(
        [sys.executable, "-m", *command.split(), "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in figures:
        assert name in result.stdout


def test_the_expected_delay_table_in_the_docs_is_the_one_the_bench_computes():
    table = subprocess.run(
        [sys.executable, "-m", "bench.alert_quality", "--table"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert table.strip() in (ROOT / "docs/alerting.md").read_text()
