"""The core is pure: standard-library computation only, no I/O, no clock, no framework."""

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).parents[2] / "streamer" / "core"
FORBIDDEN = {
    "faust",
    "aiokafka",
    "prometheus_client",
    "mode",
    "aiohttp",
    "yaml",
    "asyncio",
    "socket",
    "os",
    "io",
    "pathlib",
    "time",
    "logging",
    "subprocess",
    "threading",
    "random",
    "sys",
}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_module_imports_nothing_impure(module):
    assert imported_modules(module) & FORBIDDEN == set()


def test_the_check_sees_imports():
    assert "orjson" in imported_modules(CORE / "decoder.py")
