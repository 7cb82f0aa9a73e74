import pytest

from streamer.core.rules import Calendar, Drop, Threshold
from streamer.core.ruleset import RulesError, load_rules
from streamer.core.scores import ScoreKind

WINDOWS = {"5m": 300_000, "1h": 3_600_000, "24h": 86_400_000, "7d": 604_800_000}


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
                    "drop": {"window": "1h", "baseline": "7d", "min_drop": 0.1},
                    "dimensions": {"channel": ["chat"]},
                },
            ]
        },
        WINDOWS,
    )
    assert [r.name for r in rules] == ["nps-low", "csat-drop"]
    assert rules[0].condition == Threshold("1h", below=20, clear=25) and rules[0].for_ms == 600_000
    assert rules[1].score is ScoreKind.CSAT and rules[1].condition == Drop("1h", "7d", 0.1)
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
                    {
                        "name": "b",
                        "score": "mood",
                        "drop": {"window": "2h", "baseline": "7d", "min_drop": 5},
                    },
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


@pytest.mark.parametrize("document", [None, {"rules": []}])
def test_an_empty_document_is_an_error(document):
    with pytest.raises(RulesError, match="no rules in the file"):
        load_rules(document)


@pytest.mark.parametrize(
    ("drop", "error"),
    [
        (
            {"window": "1h", "baseline": {"same_hour_last_weeks": 4}, "min_drop": 10},
            "needs 29d of buckets",  # the windows reach back 7 days only
        ),
        (
            {"window": "1h", "baseline": {"same_hour_last_weeks": 1, "timezone": "Mars/Olympus"}},
            "unknown IANA time zone 'Mars/Olympus'",
        ),
        ({"window": "7d", "baseline": "24h", "min_drop": 10}, "must be longer than the window"),
        ({"window": "1h", "baseline": "7d", "min_drop": 10, "false_alarms": "rarely"}, "1/quarter"),
    ],
)
def test_drop_baselines_and_budgets_are_checked(drop, error):
    with pytest.raises(RulesError, match=error):
        load_rules({"rules": [{"name": "d", "score": "nps", "drop": drop}]}, WINDOWS)


def test_a_calendar_baseline_and_a_budget_load():
    windows = WINDOWS | {"29d": 29 * 86_400_000}
    drop = {
        "window": "1h",
        "baseline": {"same_hour_last_weeks": 4, "timezone": "Europe/Paris"},
        "min_drop": 10,
        "false_alarms": "2/year",
    }
    (rule,) = load_rules({"rules": [{"name": "d", "score": "nps", "drop": drop}]}, windows)
    assert rule.condition == Drop("1h", Calendar(4, "Europe/Paris"), 10, 365 * 86_400_000 // 2)


def test_a_rule_over_breakdown_series_must_name_a_configured_breakdown():
    """Breakdown series carry their dimensions in the configured order; a rule naming them in
    another order still watches them, and one over no configured breakdown is refused instead
    of silently watching nothing."""
    from streamer.core.scales import Metric
    from streamer.core.series import SeriesKey

    def rule(dimensions):
        return {
            "rules": [
                {
                    "name": "by-queue",
                    "score": "nps",
                    "threshold": {"window": "1h", "below": 0},
                    "dimensions": dimensions,
                }
            ]
        }

    configured = (("channel",), ("channel", "queue"))
    [loaded] = load_rules(rule({"queue": ["q1"], "channel": None}), WINDOWS, configured)
    series = SeriesKey(Metric.NPS, "checkout", (("channel", "chat"), ("queue", "q1")))
    assert loaded.selector.matches(series)
    with pytest.raises(RulesError) as refused:
        load_rules(rule({"region": None}), WINDOWS, configured)
    assert refused.value.errors == [
        "rules[0].dimensions: no breakdown region is configured (STREAMER_DIMENSIONS: "
        "channel, channel+queue): the rule would watch no series"
    ]


@pytest.mark.parametrize(
    ("score", "condition", "message"),
    [
        (
            "csat",
            {"threshold": {"window": "1h", "below": 80}},
            "rules[0].threshold.below: 80: csat lies between 0 and 1, so the rule would fire on "
            "every series (a ratio: did you mean 0.8?)",
        ),
        (
            "ces_agree",
            {"drop": {"window": "1h", "baseline": "7d", "min_drop": 10}},
            "rules[0].drop.min_drop: 10: ces_agree lies between 0 and 1, so it never drops that "
            "much and the rule could never fire (a ratio: did you mean 0.1?)",
        ),
        (
            "nps",
            {"threshold": {"window": "1h", "below": -100}},
            "rules[0].threshold.below: -100: nps lies between -100 and 100, so the rule would "
            "never fire",
        ),
        (
            "nps",
            {"drop": {"window": "1h", "baseline": "7d", "min_drop": 200}},
            "rules[0].drop.min_drop: 200: nps lies between -100 and 100, so it never drops that "
            "much and the rule could never fire",
        ),
        (
            "ces_mean",
            {"threshold": {"window": "1h", "above": 7}},
            "rules[0].threshold.above: 7: ces_mean lies between 1 and 7, so the rule would "
            "never fire",
        ),
        (
            "csat",
            {"threshold": {"window": "1h", "above": 0.5, "clear": -0.1}},
            "rules[0].threshold.clear: -0.1: csat lies between 0 and 1",
        ),
    ],
)
def test_a_line_or_drop_the_score_can_never_reach_is_refused(score, condition, message):
    """Percentages written for a ratio made a rule that paged on every series (below: 80) or
    never (min_drop: 10), and the checker said "all valid"."""
    with pytest.raises(RulesError) as caught:
        load_rules({"rules": [{"name": "x", "score": score, **condition}]}, WINDOWS)
    assert caught.value.errors == [message]


@pytest.mark.parametrize(
    ("score", "condition"),
    [
        ("csat", {"threshold": {"window": "1h", "below": 1, "clear": 1}}),
        ("nps", {"threshold": {"window": "1h", "above": -100}}),
        ("ces_mean", {"drop": {"window": "1h", "baseline": "7d", "min_drop": 5.5}}),
    ],
)
def test_lines_at_the_edges_of_a_scores_range_load(score, condition):
    assert load_rules({"rules": [{"name": "x", "score": score, **condition}]}, WINDOWS)


def test_rule_labels_cannot_overwrite_what_tells_its_alerts_apart():
    """`labels: {region: emea}` on a rule over two regions made their alerts one Alertmanager
    alert, whose summary flipped between them and which either region's recovery resolved."""
    rule = {
        "name": "x",
        "score": "csat",
        "threshold": {"window": "1h", "below": 0.8},
        "dimensions": {"region": ["emea-north", "emea-south"]},
        "labels": {"region": "emea", "touchpoint": "all", "severity": "page", "team": "cx"},
    }
    with pytest.raises(RulesError) as caught:
        load_rules({"rules": [rule]}, WINDOWS, [("region",)])
    assert caught.value.errors == [
        "rules[0].labels.severity: set by the rule's own 'severity': move it there",
        "rules[0].labels.region: set by each alert's series: rename it",
        "rules[0].labels.touchpoint: set by each alert's series: rename it",
    ]
