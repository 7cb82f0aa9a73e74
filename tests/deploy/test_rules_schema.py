"""The JSON Schema published for editors agrees with `streamer rules check` on the shipped
files and on typical mistakes."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from streamer.core.ruleset import RulesError, load_rules

DEPLOY = Path(__file__).parents[2] / "deploy"
SCHEMA = json.loads((DEPLOY / "rules.schema.json").read_text())
WINDOWS = {"1m": 60_000, "5m": 300_000, "1h": 3_600_000, "24h": 86_400_000, "7d": 604_800_000}


def schema_errors(document):
    return list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(document))


@pytest.mark.parametrize("name", ["rules.example.yaml", "rules.demo.yaml"])
def test_the_shipped_rules_match_the_schema(name):
    document = yaml.safe_load((DEPLOY / name).read_text())
    assert schema_errors(document) == []
    assert load_rules(document, WINDOWS)


DROP = {"window": "1h", "baseline": "7d", "min_drop": 10}


@pytest.mark.parametrize(
    "rule",
    [
        {"name": "a", "score": "nps"},  # neither threshold nor drop
        {"name": "a", "score": "mood", "drop": DROP},  # unknown score
        {"name": "a", "score": "nps", "drop": {**DROP, "p_value": 0.01}},  # the old test
        {"name": "a", "score": "nps", "drop": {"window": "1h", "baseline": "7d"}},  # no min_drop
        {"name": "a", "score": "nps", "drop": {**DROP, "false_alarms": "rarely"}},
        {"name": "a", "score": "nps", "drop": DROP, "labels": {"queue-name": "x"}},
        {"name": "a", "score": "nps", "drop": DROP, "labels": {"alertname": "x"}},
        {"name": "a", "score": "nps", "drop": DROP, "labels": {"region": "emea"}},
        {"name": "a", "score": "csat", "threshold": {"window": "1h", "below": 80}},
        {"name": "a", "score": "nps", "threshold": {"window": "1h", "below": 1, "above": 2}},
        {"name": "a", "score": "nps", "threshold": {"window": "1h", "below": 1, "confidence": 1}},
    ],
)
def test_mistakes_are_refused_by_both(rule):
    document = {"rules": [rule]}
    assert schema_errors(document)
    with pytest.raises(RulesError):
        load_rules(document, WINDOWS)
