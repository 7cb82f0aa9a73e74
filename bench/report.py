"""Where benchmarks leave their figures: bench/results/<name>.json, with the machine."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(memory_kb / 2**20, 1),
        "python": platform.python_version(),
    }


def save(name: str, command: str, figures: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    document = {"benchmark": name, "command": command, **figures, "machine": machine()}
    (RESULTS / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")
