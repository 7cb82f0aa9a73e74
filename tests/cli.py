"""Running the ``streamer`` command as a user would, from the repository root."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def streamer(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamer.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=check,
    )
