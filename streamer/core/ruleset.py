"""Validation of a rules document (parsed YAML) into Rule values, reporting every error by path.

    rules:
      - name: checkout-nps-low
        score: nps                      # nps | csat | ces_mean | ces_agree
        threshold: {window: 1h, below: 20, clear: 25}
        min_responses: 30
        for: 10m
        severity: page
        touchpoints: [checkout]         # optional: every touchpoint when absent
        dimensions: {channel: [chat]}   # optional: breakdown series instead of touchpoint series
        labels: {team: digital}
        annotations: {summary: "...", runbook_url: "https://..."}
      - name: nps-drop
        score: nps
        drop: {window: 24h, baseline: 7d, min_drop: 10, false_alarms: 1/quarter}
      - name: nps-drop-vs-usual-hour
        score: nps
        drop:
          window: 1h
          baseline: {same_hour_last_weeks: 4, timezone: Europe/Paris}
          min_drop: 15

Errors read ``rules[2].for: expected a duration like 5m``. Every error is reported in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streamer.core.durations import format_duration_ms, parse_duration_ms, parse_false_alarms
from streamer.core.events import DIMENSIONS
from streamer.core.rules import Calendar, Drop, Rule, Selector, Threshold
from streamer.core.scores import RANGES, ScoreKind
from streamer.core.series import Breakdown

T = TypeVar("T")

_RULE_KEYS = {
    "name",
    "score",
    "threshold",
    "drop",
    "min_responses",
    "for",
    "severity",
    "touchpoints",
    "dimensions",
    "labels",
    "annotations",
}
_THRESHOLD_KEYS = {"window", "below", "above", "clear", "confidence"}
_DROP_KEYS = {"window", "baseline", "min_drop", "false_alarms", "settle"}
_REPLACED = {
    "p_value": "replaced by false_alarms (e.g. 1/quarter): drops are detected sequentially, "
    "see docs/alerting.md",
    "clear_p_value": "no longer used: a drop clears once its evidence is back at 0 "
    "(docs/alerting.md)",
}
_CALENDAR_KEYS = {"same_hour_last_weeks", "timezone"}
_SERIES_LABELS = {"touchpoint", "score", "window", *DIMENSIONS}
"""Labels every alert carries of its own series: what tells two alerts of one rule apart."""
_SCORES = {kind.value: kind for kind in ScoreKind}
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
"""What Alertmanager accepts as a label or annotation name."""
Windows = Mapping[str, int]
"""The configured windows: label -> length in ms."""


class RulesError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class _Errors:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}")

    def check(self, path: str, build: Callable[[], T]) -> T | None:
        try:
            return build()
        except (ValueError, TypeError) as error:
            self.add(path, str(error))
            return None


def load_rules(
    document: Any, windows: Windows | None = None, breakdowns: Sequence[Breakdown] | None = None
) -> tuple[Rule, ...]:
    """Rules from a parsed document; ``windows`` and ``breakdowns`` (the configured ones) are
    checked if given. An empty document is an error: a rules file that pages nobody is a
    mistake, not a choice."""
    errors = _Errors()
    if document is None or (isinstance(document, Mapping) and not document.get("rules")):
        raise RulesError(["rules: no rules in the file (expected a list under 'rules')"])
    if not isinstance(document, Mapping) or not isinstance(document.get("rules", []), list):
        raise RulesError(["rules: expected a mapping with a list under 'rules'"])
    rules: list[Rule] = []
    names: set[str] = set()
    for index, item in enumerate(document.get("rules") or []):
        path = f"rules[{index}]"
        rule = _rule(item, path, errors, windows, breakdowns)
        if rule is not None:
            if rule.name in names:
                errors.add(f"{path}.name", f"duplicate rule name {rule.name!r}")
            names.add(rule.name)
            rules.append(rule)
    unknown = set(document) - {"rules"}
    for key in sorted(map(str, unknown)):
        errors.add(key, "unknown key (expected only 'rules')")
    if errors.items:
        raise RulesError(errors.items)
    return tuple(rules)


def _rule(
    item: Any,
    path: str,
    errors: _Errors,
    windows: Windows | None,
    breakdowns: Sequence[Breakdown] | None,
) -> Rule | None:
    if not isinstance(item, Mapping):
        errors.add(path, "expected a mapping")
        return None
    before = len(errors.items)
    for key in sorted(set(map(str, item)) - _RULE_KEYS):
        errors.add(f"{path}.{key}", "unknown key")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.add(f"{path}.name", "expected a non-empty string")
    score = _SCORES.get(str(item.get("score")))
    if score is None:
        errors.add(f"{path}.score", f"expected one of {', '.join(_SCORES)}")
    condition = _condition(item, path, errors, windows)
    if condition is not None and score is not None:
        _within_range(condition, score, path, errors)
    min_responses = item.get("min_responses", 30)
    if type(min_responses) is not int or min_responses < 1:
        errors.add(f"{path}.min_responses", "expected a whole number of at least 1")
    for_ms = 0
    if "for" in item:
        for_ms = errors.check(f"{path}.for", lambda: parse_duration_ms(str(item["for"]))) or 0
    severity = item.get("severity", "warning")
    if not isinstance(severity, str) or not severity:
        errors.add(f"{path}.severity", "expected a non-empty string")
    labels = _string_map(item.get("labels", {}), f"{path}.labels", errors)
    if "alertname" in labels:
        errors.add(f"{path}.labels.alertname", "the rule's name is its alertname: remove it")
    if "severity" in labels:
        errors.add(f"{path}.labels.severity", "set by the rule's own 'severity': move it there")
    for name in sorted(labels.keys() & _SERIES_LABELS):
        # Overwritten, it made the alerts of two series one alert, resolved by either.
        errors.add(f"{path}.labels.{name}", "set by each alert's series: rename it")
    annotations = _string_map(item.get("annotations", {}), f"{path}.annotations", errors)
    selector = _selector(item, path, errors, breakdowns)
    if len(errors.items) > before or score is None or condition is None or selector is None:
        return None
    return Rule(
        name=str(name),
        score=score,
        condition=condition,
        selector=selector,
        min_responses=int(min_responses),
        for_ms=for_ms,
        severity=str(severity),
        labels=labels,
        annotations=annotations,
    )


def _condition(
    item: Mapping[str, Any], path: str, errors: _Errors, windows: Windows | None
) -> Threshold | Drop | None:
    has_threshold, has_drop = "threshold" in item, "drop" in item
    if has_threshold == has_drop:
        errors.add(path, "expected exactly one of 'threshold' or 'drop'")
        return None
    kind, allowed = ("threshold", _THRESHOLD_KEYS) if has_threshold else ("drop", _DROP_KEYS)
    spec = item[kind]
    where = f"{path}.{kind}"
    if not isinstance(spec, Mapping):
        errors.add(where, "expected a mapping")
        return None
    before = len(errors.items)
    for key in sorted(set(map(str, spec)) - allowed):
        errors.add(f"{where}.{key}", _REPLACED.get(key, "unknown key"))
    window = _window(spec.get("window"), f"{where}.window", errors, windows)
    numbers = {"below", "above", "clear", "confidence"} if has_threshold else {"min_drop"}
    for key in sorted(numbers):
        value = spec.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            errors.add(f"{where}.{key}", "expected a number")
    if has_threshold:
        if len(errors.items) > before:
            return None
        values = {str(k): v for k, v in spec.items()}
        return errors.check(where, lambda: Threshold(**values))
    if "min_drop" not in spec:
        errors.add(f"{where}.min_drop", "required: the smallest drop worth a page")
    baseline = _baseline(spec.get("baseline"), f"{where}.baseline", errors, windows)
    every_ms = errors.check(
        f"{where}.false_alarms", lambda: parse_false_alarms(spec.get("false_alarms", "1/quarter"))
    )
    settle_ms = errors.check(
        f"{where}.settle", lambda: parse_duration_ms(str(spec.get("settle", "1m")))
    )
    if (
        windows is not None
        and isinstance(baseline, str)
        and window is not None
        and windows[baseline] <= windows[window]
    ):
        errors.add(f"{where}.baseline", f"must be longer than the window {window}")
    if len(errors.items) > before or window is None or baseline is None:
        return None
    assert every_ms is not None and settle_ms is not None
    return errors.check(
        where, lambda: Drop(window, baseline, spec["min_drop"], every_ms, settle_ms)
    )


def _within_range(
    condition: Threshold | Drop, score: ScoreKind, path: str, errors: _Errors
) -> None:
    """A line the score can never cross, or a drop larger than its whole range, makes a rule
    that pages forever or never, and nothing else would say so (percentages written for a
    ratio: ``below: 80`` for CSAT fired on every series)."""
    low, high = RANGES[score]
    ratio = high == 1.0

    def hint(value: float) -> str:
        return f" (a ratio: did you mean {value / 100:g}?)" if ratio and 1 < value <= 100 else ""

    lies = f"{score.value} lies between {low:g} and {high:g}"
    if isinstance(condition, Drop):
        if condition.min_drop >= high - low:
            errors.add(
                f"{path}.drop.min_drop",
                f"{condition.min_drop:g}: {lies}, so it never drops that much and the rule "
                f"could never fire{hint(condition.min_drop)}",
            )
        return
    where = f"{path}.threshold"
    if condition.below is not None and not low < condition.below <= high:
        errors.add(
            f"{where}.below",
            f"{condition.below:g}: {lies}, so the rule would "
            f"{'never fire' if condition.below <= low else 'fire on every series'}"
            f"{hint(condition.below)}",
        )
    if condition.above is not None and not low <= condition.above < high:
        errors.add(
            f"{where}.above",
            f"{condition.above:g}: {lies}, so the rule would "
            f"{'never fire' if condition.above >= high else 'fire on every series'}"
            f"{hint(condition.above)}",
        )
    if condition.clear is not None and not low <= condition.clear <= high:
        errors.add(f"{where}.clear", f"{condition.clear:g}: {lies}{hint(condition.clear)}")


def _window(label: Any, path: str, errors: _Errors, windows: Windows | None) -> str | None:
    if not isinstance(label, str):
        errors.add(path, "expected a window label like 1h")
        return None
    if windows is not None and label not in windows:
        errors.add(path, f"unknown window {label!r} (configured: {', '.join(windows)})")
        return None
    return label


def _baseline(
    spec: Any, path: str, errors: _Errors, windows: Windows | None
) -> str | Calendar | None:
    if not isinstance(spec, Mapping):
        return _window(spec, path, errors, windows)
    before = len(errors.items)
    for key in sorted(set(map(str, spec)) - _CALENDAR_KEYS):
        errors.add(f"{path}.{key}", "unknown key (expected same_hour_last_weeks, timezone)")
    weeks = spec.get("same_hour_last_weeks")
    if isinstance(weeks, bool) or not isinstance(weeks, int):
        errors.add(f"{path}.same_hour_last_weeks", "expected a whole number of weeks")
        weeks = 0
    zone = spec.get("timezone", "UTC")
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        errors.add(f"{path}.timezone", f"unknown IANA time zone {zone!r}")
    if len(errors.items) > before:
        return None
    calendar = errors.check(path, lambda: Calendar(weeks, str(zone)))
    if calendar is not None and windows is not None:
        longest = max(windows.values(), default=0)
        if longest < calendar.history_ms:
            errors.add(
                path,
                f"needs {-(-calendar.history_ms // 86_400_000)}d of buckets: add a window at "
                f"least that long to STREAMER_WINDOWS (longest now {format_duration_ms(longest)})",
            )
            return None
    return calendar


def _selector(
    item: Mapping[str, Any], path: str, errors: _Errors, breakdowns: Sequence[Breakdown] | None
) -> Selector | None:
    touchpoints = item.get("touchpoints", [])
    ok = True
    if not isinstance(touchpoints, list) or not all(isinstance(t, str) for t in touchpoints):
        errors.add(f"{path}.touchpoints", "expected a list of touchpoint names")
        ok = False
    dimensions = item.get("dimensions", {})
    pairs: list[tuple[str, frozenset[str]]] = []
    if not isinstance(dimensions, Mapping):
        errors.add(f"{path}.dimensions", "expected a mapping of dimension to a list of values")
        return None
    for name, values in dimensions.items():
        if name not in DIMENSIONS:
            errors.add(
                f"{path}.dimensions.{name}", f"unknown dimension (known: {', '.join(DIMENSIONS)})"
            )
            ok = False
        elif values is not None and (
            not isinstance(values, list) or not all(isinstance(v, str) for v in values)
        ):
            errors.add(
                f"{path}.dimensions.{name}", "expected a list of values, or null for any value"
            )
            ok = False
        else:
            pairs.append((str(name), frozenset(values or ())))
    if not ok:
        return None
    if pairs and breakdowns is not None:
        # A breakdown series carries its dimensions in the configured order: the rule's are
        # put in that order, and a rule over no configured breakdown would watch nothing.
        names = {name for name, _ in pairs}
        found = next((b for b in breakdowns if set(b) == names), None)
        if found is None:
            configured = ", ".join("+".join(b) for b in breakdowns) or "none"
            errors.add(
                f"{path}.dimensions",
                f"no breakdown {'+'.join(sorted(names))} is configured (STREAMER_DIMENSIONS: "
                f"{configured}): the rule would watch no series",
            )
            return None
        by_name = dict(pairs)
        pairs = [(name, by_name[name]) for name in found]
    return Selector(frozenset(touchpoints), tuple(pairs))


def _string_map(value: Any, path: str, errors: _Errors) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(v, str | int | float) for v in value.values()
    ):
        errors.add(path, "expected a mapping of names to strings")
        return {}
    for name in value:
        if not isinstance(name, str) or not _LABEL_NAME.match(name) or name.startswith("__"):
            errors.add(
                f"{path}.{name}",
                "not a name Alertmanager accepts (letters, digits, _; not starting with a digit "
                "or __)",
            )
    return {str(k): str(v) for k, v in value.items()}
