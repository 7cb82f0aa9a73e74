"""Reading a rules YAML file into the core's Rule values (the core itself never reads files)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from streamer.core.rules import Rule
from streamer.core.ruleset import RulesError, load_rules
from streamer.core.series import Breakdown


def read_rules(
    path: str | Path,
    windows: Mapping[str, int] | None = None,
    breakdowns: Sequence[Breakdown] | None = None,
) -> tuple[Rule, ...]:
    """Raises RulesError listing every problem, YAML syntax errors included."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise RulesError([f"{path}: cannot read: {error.strerror}"]) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        raise RulesError(
            [f"{path}: not valid YAML at {where}: {getattr(error, 'problem', error)}"]
        ) from None
    return load_rules(document, windows, breakdowns)
