"""``streamer worker`` and ``streamer --version`` as an operator runs them."""

import os
import subprocess
import sys
from importlib.metadata import version


def streamer(*args, cwd, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMER_", "KAFKA_"))}
    return subprocess.run(
        [sys.executable, "-m", "streamer.cli", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_version_comes_from_the_installed_package(tmp_path):
    done = streamer("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == f"streamer {version('streamer')}\n"


def test_bad_settings_are_listed_without_a_traceback_and_exit_2(tmp_path):
    done = streamer(
        "worker",
        cwd=tmp_path,
        STREAMER_WINDOWS="5x",
        STREAMER_SESSION_TIMEOUT_S="-3",
        STREAMER_CES_SCALE="1-10",
        KAFKA_BOOTSTRAP="127.0.0.1:1",  # never reached: settings are checked first
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "streamer worker: refusing to start, the settings are invalid:",
        "  STREAMER_WINDOWS: expected a duration like 5m, got '5x'",
        "  STREAMER_CES_SCALE: expected 1-7 or 1-5, got '1-10'",
        "  STREAMER_SESSION_TIMEOUT_S: Input should be greater than 0, got '-3'",
    ]


def test_a_log_option_on_the_command_line_is_checked_like_the_variable(tmp_path):
    done = streamer("worker", "--log-format", "xml", cwd=tmp_path)
    assert done.returncode == 2 and "invalid choice: 'xml'" in done.stderr
    done = streamer("worker", cwd=tmp_path, STREAMER_LOG_LEVEL="loud")
    assert done.returncode == 2
    assert "STREAMER_LOG_LEVEL: Input should be 'debug', 'info', 'warning' or 'error'" in (
        done.stderr
    )
