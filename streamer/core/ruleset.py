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
        drop: {window: 1h, baseline: 7d, p_value: 0.01, min_drop: 10}

Errors read ``rules[2].for: expected a duration like 5m``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from streamer.core.durations import parse_duration_ms
from streamer.core.events import DIMENSIONS
from streamer.core.rules import Drop, Rule, Selector, Threshold
from streamer.core.scores import ScoreKind

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
_THRESHOLD_KEYS = {"window", "below", "above", "clear"}
_DROP_KEYS = {"window", "baseline", "p_value", "clear_p_value", "min_drop"}
_SCORES = {kind.value: kind for kind in ScoreKind}


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


def load_rules(document: Any, windows: Collection[str] | None = None) -> tuple[Rule, ...]:
    """Rules from a parsed document; ``windows`` (the configured labels) are checked if given."""
    errors = _Errors()
    if document is None:
        return ()
    if not isinstance(document, Mapping) or not isinstance(document.get("rules", []), list):
        raise RulesError(["rules: expected a mapping with a list under 'rules'"])
    rules: list[Rule] = []
    names: set[str] = set()
    for index, item in enumerate(document.get("rules") or []):
        path = f"rules[{index}]"
        rule = _rule(item, path, errors, windows)
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


def _rule(item: Any, path: str, errors: _Errors, windows: Collection[str] | None) -> Rule | None:
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
    annotations = _string_map(item.get("annotations", {}), f"{path}.annotations", errors)
    selector = _selector(item, path, errors)
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
    item: Mapping[str, Any], path: str, errors: _Errors, windows: Collection[str] | None
) -> Threshold | Drop | None:
    has_threshold, has_drop = "threshold" in item, "drop" in item
    if has_threshold == has_drop:
        errors.add(path, "expected exactly one of 'threshold' or 'drop'")
        return None
    kind, allowed, build = (
        ("threshold", _THRESHOLD_KEYS, Threshold) if has_threshold else ("drop", _DROP_KEYS, Drop)
    )
    spec = item[kind]
    where = f"{path}.{kind}"
    if not isinstance(spec, Mapping):
        errors.add(where, "expected a mapping")
        return None
    ok = True
    for key in sorted(set(map(str, spec)) - allowed):
        errors.add(f"{where}.{key}", "unknown key")
        ok = False
    for key in ("window", "baseline") if kind == "drop" else ("window",):
        label = spec.get(key)
        if not isinstance(label, str):
            errors.add(f"{where}.{key}", "expected a window label like 1h")
            ok = False
        elif windows is not None and label not in windows:
            errors.add(
                f"{where}.{key}", f"unknown window {label!r} (configured: {', '.join(windows)})"
            )
            ok = False
    for key in sorted(allowed - {"window", "baseline"}):
        value = spec.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            errors.add(f"{where}.{key}", "expected a number")
            ok = False
    if not ok:
        return None
    return errors.check(where, lambda: build(**{str(k): v for k, v in spec.items()}))


def _selector(item: Mapping[str, Any], path: str, errors: _Errors) -> Selector | None:
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
    return Selector(frozenset(touchpoints), tuple(pairs))


def _string_map(value: Any, path: str, errors: _Errors) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(v, str | int | float) for v in value.values()
    ):
        errors.add(path, "expected a mapping of names to strings")
        return {}
    return {str(k): str(v) for k, v in value.items()}
