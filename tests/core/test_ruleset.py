import pytest

from streamer.core.rules import Drop, Threshold
from streamer.core.ruleset import RulesError, load_rules
from streamer.core.scores import ScoreKind

WINDOWS = ("5m", "1h", "24h", "7d")


def test_a_valid_document_loads():
    rules = load_rules(
        {
            "rules": [
                {
                    "name": "nps-low",
                    "score": "nps",
                    "threshold": {"window": "1h", "below": 20, "clear": 25},
                    "min_responses": 30,
                    "for": "10m",
                    "severity": "page",
                    "touchpoints": ["checkout"],
                    "labels": {"team": "digital"},
                    "annotations": {"runbook_url": "https://runbooks/nps"},
                },
                {
                    "name": "csat-drop",
                    "score": "csat",
                    "drop": {"window": "1h", "baseline": "7d"},
                    "dimensions": {"channel": ["chat"]},
                },
            ]
        },
        WINDOWS,
    )
    assert [r.name for r in rules] == ["nps-low", "csat-drop"]
    assert rules[0].condition == Threshold("1h", below=20, clear=25) and rules[0].for_ms == 600_000
    assert rules[1].score is ScoreKind.CSAT and rules[1].condition == Drop("1h", "7d")
    assert rules[1].min_responses == 30  # the default


def test_every_error_is_reported_with_its_path():
    with pytest.raises(RulesError) as caught:
        load_rules(
            {
                "rules": [
                    {
                        "name": "a",
                        "score": "nps",
                        "threshold": {"window": "1h", "below": 20},
                        "for": "soon",
                    },
                    {"name": "b", "score": "mood", "drop": {"window": "2h", "baseline": "7d"}},
                    {"name": "a", "score": "csat", "threshold": {"window": "1h", "below": "low"}},
                    {
                        "score": "nps",
                        "threshold": {"window": "1h", "below": 1},
                        "dimensions": {"email": None},
                    },
                    "not a mapping",
                ],
                "version": 2,
            },
            WINDOWS,
        )
    assert caught.value.errors == [
        "rules[0].for: expected a duration like 5m, got 'soon'",
        "rules[1].score: expected one of nps, csat, ces_mean, ces_agree",
        "rules[1].drop.window: unknown window '2h' (configured: 5m, 1h, 24h, 7d)",
        "rules[2].threshold.below: expected a number",
        "rules[3].name: expected a non-empty string",
        "rules[3].dimensions.email: unknown dimension (known: channel, queue, region, agent_id)",
        "rules[4]: expected a mapping",
        "version: unknown key (expected only 'rules')",
    ]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"name": "x", "score": "nps"}, "rules[0]: expected exactly one of 'threshold' or 'drop'"),
        (
            {"name": "x", "score": "nps", "threshold": {"window": "1h"}},
            "rules[0].threshold: a threshold needs exactly one of below or above",
        ),
        (
            {"name": "x", "score": "nps", "threshold": {"window": "1h", "below": 1, "when": 2}},
            "rules[0].threshold.when: unknown key",
        ),
        (
            {
                "name": "x",
                "score": "nps",
                "threshold": {"window": "1h", "below": 1},
                "min_responses": 0,
            },
            "rules[0].min_responses: expected a whole number of at least 1",
        ),
    ],
)
def test_single_errors(rule, message):
    with pytest.raises(RulesError) as caught:
        load_rules({"rules": [rule]}, WINDOWS)
    assert caught.value.errors == [message]


def test_an_empty_document_has_no_rules():
    assert load_rules(None) == ()
    assert load_rules({"rules": []}) == ()
