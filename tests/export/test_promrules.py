"""``streamer rules export --prometheus``: what it exports parses with promtool, fires (under
``promtool test rules``) exactly where numbers worked by hand say it must, and what it cannot
export is said per rule, in the output and on stderr."""

import random
import subprocess
from pathlib import Path

import yaml

from streamer.core.rules import Signal, evaluate_threshold
from streamer.core.scales import CesPolicy
from streamer.core.scores import ScoreKind
from streamer.core.tally import CesTally, NpsTally
from streamer.rules_file import read_rules
from tests.cli import streamer

EVERY_SCORE = """
rules:
  - {name: NpsLow, score: nps, threshold: {window: 1h, below: 20, confidence: 0.9}}
  - {name: NpsHigh, score: nps, threshold: {window: 1h, above: 80, confidence: 0.99}}
  - {name: CsatLow, score: csat, threshold: {window: 1h, below: 0.8}}
  - {name: CesMeanHard, score: ces_mean, threshold: {window: 1h, below: 4, confidence: 0.95}}
  - {name: CesAgreeLow, score: ces_agree, threshold: {window: 1h, below: 0.6, clear: 0.65}}
  - {name: CsatPoint, score: csat, threshold: {window: 1h, below: 0.8, confidence: 0}}
  - name: CheckoutChannels
    score: nps
    touchpoints: [checkout]
    dimensions: {channel: [voice]}
    threshold: {window: 1h, below: 0}
  - {name: CesDrop, score: ces_mean, drop: {window: 1h, baseline: 24h, min_drop: 0.5}}
  - name: NpsFew
    score: nps
    threshold: {window: 1h, below: -13, confidence: 0.95}
    min_responses: 3
  - name: CesMeanFew
    score: ces_mean
    threshold: {window: 1h, below: 4, confidence: 0.99}
    min_responses: 10
"""


def promtool_check(tmp_path: Path, text: str) -> str:
    path = tmp_path / "alerts.yml"
    path.write_text(text)
    checked = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return checked.stdout


def test_the_example_rules_export_passes_promtool_and_names_what_it_leaves_out(tmp_path):
    exported = streamer("rules", "export", "--prometheus", "deploy/rules.example.yaml")
    assert "SUCCESS: 2 rules found" in promtool_check(tmp_path, exported.stdout)
    for drop in ("NpsDrop", "CsatDrop", "CesAgreeDrop"):
        said = f"{drop}: not exported: a drop is a sequential CUSUM"
        assert f"# {said}" in exported.stdout
        assert f"streamer rules export: {said}" in exported.stderr


def export_every_score(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(EVERY_SCORE)
    windows, dimensions = ("--windows", "1h,24h"), ("--dimensions", "channel")
    return streamer("rules", "export", "--prometheus", str(rules), *windows, *dimensions)


def test_every_score_and_selector_exports_to_valid_promql(tmp_path):
    exported = export_every_score(tmp_path)
    assert "SUCCESS: 8 rules found" in promtool_check(tmp_path, exported.stdout)
    expressions = {
        r["alert"]: r["expr"] for r in yaml.safe_load(exported.stdout)["groups"][0]["rules"]
    }
    # a confidence bound from the counts, or the plain gauge at confidence 0
    assert "cx_ces_points_squared" in expressions["CesMeanHard"]
    assert "cx_satisfied" in expressions["CsatLow"]
    assert expressions["CsatPoint"].startswith("(max without (instance, pod, endpoint, service")
    assert 'touchpoint=~"checkout"' in expressions["CheckoutChannels"]
    assert "CesAgreeLow: exported without clear: 0.65" in exported.stderr
    assert "CesDrop: not exported" in exported.stderr
    # Student's t of a CES mean bound is its expansion in 1/(n - 1) in PromQL, which agrees with
    # the worker's from 22 answers on at 0.99: on fewer the worker alone judges.
    assert (
        "CesMeanFew: not exported: PromQL approximates Student's t quantile of the CES mean's "
        "bound, as the worker computes it, only from 22 answers on at confidence 0.99 "
        "(min_responses is 10)"
    ) in exported.stderr
    assert "CesMeanFew" not in expressions


def _series(name: str, labels: str, value: float) -> str:
    return f"      - {{series: '{name}{{{labels},window=\"1h\"}}', values: '{value}x5'}}\n"


def _nps(touchpoint: str, n: int, promoters: int, detractors: int, extra: str = "") -> str:
    labels = f'touchpoint="{touchpoint}"{extra}'
    return (
        _series("cx_responses", f'metric="nps",{labels}', n)
        + _series("cx_promoters", labels, promoters)
        + _series("cx_detractors", labels, detractors)
    )


def _csat(touchpoint: str, n: int, satisfied: int) -> str:
    labels = f'touchpoint="{touchpoint}"'
    return (
        _series("cx_responses", f'metric="csat",{labels}', n)
        + _series("cx_satisfied", labels, satisfied)
        + _series("cx_csat_ratio", labels, satisfied / n)
    )


def _ces(touchpoint: str, n: int, points: int, squares: int, agree: int) -> str:
    labels = f'touchpoint="{touchpoint}"'
    return (
        _series("cx_responses", f'metric="ces",{labels}', n)
        + _series("cx_ces_points", labels, points)
        + _series("cx_ces_points_squared", labels, squares)
        + _series("cx_ces_agree", labels, agree)
    )


# Worked by hand from the definitions (docs/alerting.md), with one-sided normal quantiles from a
# table: z(0.90) = 1.2816, z(0.95) = 1.6449, z(0.99) = 2.3263, and Student's t(0.95, df) from a
# table: 1.6766 (df 49), 1.6849 (df 39), 1.6991 (df 29).
# NPS: the plain bound NPS ± z SE, per-answer variance P + D - (P - D)^2, SE = 100 sqrt(var / n),
# and the adjusted Wald bound (Rocks 2016): P' = (promoters + 3/4) / (n + 3), D' likewise,
# centre 100 (P' - D'), SE' = 100 sqrt((P' + D' - (P' - D')^2) / (n + 3)); the bound is
# whichever of the two is further from the line.
# CES mean: sample variance, SE = sqrt(var / n), bound mean ± t(confidence, n - 1) SE.
# CSAT and CES agree: Wilson, centre (p + z^2/2n) / (1 + z^2/n), half width
# z sqrt(p(1 - p)/n + z^2/4n^2) / (1 + z^2/n). "edge" cases fire only at the one-sided z (the
# two-sided 1.96 or 1.6449 would not); "near" ones have the point estimate, not the bound, past
# the line.
WORKED_SERIES = (
    # NpsLow, below 20 at 0.90 (upper bound):
    #   bad   20/40 of 100: NPS -20, var 0.6 - 0.04 = 0.56, SE 7.48, -20 + 1.2816 * 7.48 = -10.4;
    #         adjusted P' 0.20146, D' 0.39563, centre -19.42, SE' 7.37: -9.97 (the bound)
    #   edge  38/30 of 100: NPS 8, var 0.68 - 0.0064 = 0.6736, SE 8.21, 8 + 10.52 = 18.5
    #         (adjusted: 18.1, nearer the line)
    #   near  40/30 of 100: NPS 10, var 0.7 - 0.01 = 0.69, SE 8.31, 10 + 10.65 = 20.6: no
    #   few   0/20 of 20: NPS -100 on fewer than min_responses 30: no
    #   sixty 0/60 of 60: SE 0; adjusted P' 0.75/63, D' 60.75/63, centre -95.24, SE' 3.31: -91.0
    #   mirror 15/40 of 100: NPS -25, SE 6.98: -16.1; adjusted centre -24.27, SE' 6.90: -15.4
    _nps("bad", 100, 20, 40)
    + _nps("edge", 100, 38, 30)
    + _nps("near", 100, 40, 30)
    + _nps("few", 20, 0, 20)
    # NpsFew, below -13 at 0.95 on as few as 3 answers (upper bound):
    #   three  0/3 of 3: the plain bound is -100 (SE 0), so it paged; adjusted P' 0.75/6,
    #          D' 3.75/6, centre -50, SE' 100 sqrt(0.5/6) = 28.87: -50 + 1.6449 * 28.87 = -2.5: no
    #   sixty  0/60 of 60: -95.24 + 1.6449 * 3.31 = -89.8
    #   few    0/20 of 20: adjusted P' 0.75/23, D' 20.75/23, centre -86.96, SE' 8.82: -72.5
    #   mirror 15/40 of 100: plain -25 + 1.6449 * 6.98 = -13.52, adjusted -24.27 + 1.6449 * 6.895
    #          = -12.93, further from the line: no
    + _nps("three", 3, 0, 3)
    + _nps("sixty", 60, 0, 60)
    + _nps("mirror", 100, 15, 40)
    # NpsHigh, above 80 at 0.99 (lower bound):
    #   great 95/0 of 100: var 0.95 - 0.9025 = 0.0475, SE 2.18, 95 - 2.3263 * 2.18 = 89.9;
    #         adjusted P' 95.75/103, D' 0.75/103, centre 92.23, SE' 2.89: 85.5 (the bound)
    #   good  85/0 of 100: var 0.85 - 0.7225 = 0.1275, SE 3.57, 85 - 8.31 = 76.7: no
    + _nps("great", 100, 95, 0)
    + _nps("good", 100, 85, 0)
    # CheckoutChannels, NPS below 0 at 0.95 on checkout's voice breakdown only:
    #   10/50 of 100: NPS -40, var 0.6 - 0.16 = 0.44, SE 6.63, -40 + 1.6449 * 6.63 = -29.1
    #   (adjusted: -28.0); the same counts on checkout's chat and on web's voice page nobody,
    #   and no breakdown series reaches the touchpoint rules (NpsLow).
    + _nps("checkout", 100, 10, 50, ',channel="voice"')
    + _nps("checkout", 100, 10, 50, ',channel="chat"')
    + _nps("web", 100, 10, 50, ',channel="voice"')
    # CsatLow, below 0.8 at 0.95 (Wilson upper bound, z^2 = 2.7057):
    #   bad   210/300: centre 0.70451 / 1.00902 = 0.6982, half 0.0434: 0.7416
    #   edge  228/300: centre 0.76451 / 1.00902 = 0.7577, half 0.0404: 0.7981
    #   near  75/100: centre 0.76353 / 1.02706 = 0.7434, half 0.0706: 0.8140: no
    # CsatPoint, below 0.8 at confidence 0: the ratio itself, 0.70, 0.76 and 0.75: all three.
    + _csat("bad", 300, 210)
    + _csat("edge", 300, 228)
    + _csat("near", 100, 75)
    # CesMeanHard, below 4 at 0.95 (1-7, higher is easier):
    #   bad   mean 150/50 = 3, var (548 - 50 * 9)/49 = 2, SE 0.2, 3 + 1.6766 * 0.2 = 3.34
    #   edge  mean 144/40 = 3.6, var (596 - 518.4)/39 = 1.990, SE 0.2230, 3.6 + 0.3758 = 3.976
    #   near  mean 150/40 = 3.75, var (641 - 562.5)/39 = 2.013, SE 0.2243, 3.75 + 0.378 = 4.128: no
    #   student mean 111/30 = 3.7, var (439 - 410.7)/29 = 0.9759, SE 0.18036, 3.7 + 1.6991 *
    #         0.18036 = 4.0064: no (the normal 1.6449 made it 3.9967, and paged)
    # CesAgreeLow, below 0.6 at 0.95 (Wilson upper bound):
    #   bad   20/50: centre 0.42706 / 1.05411 = 0.4051, half 0.1111: 0.5163
    #   edge  18/40: centre 0.48382 / 1.06764 = 0.4532, half 0.1253: 0.5784
    #   near  20/40: centre 0.53382 / 1.06764 = 0.5000, half 0.1259: 0.6259: no
    #   student 15/30: centre 0.54509 / 1.09019 = 0.5000, half 0.1437: 0.6437: no
    + _ces("bad", 50, 150, 548, 20)
    + _ces("edge", 40, 144, 596, 18)
    + _ces("near", 40, 150, 641, 20)
    + _ces("student", 30, 111, 439, 15)
)
FIRING = {
    "NpsLow": ["bad", "edge", "sixty", "mirror"],
    "NpsFew": ["sixty", "few"],
    "NpsHigh": ["great"],
    "CheckoutChannels": ["checkout"],
    "CsatLow": ["bad", "edge"],
    "CsatPoint": ["bad", "edge", "near"],
    "CesMeanHard": ["bad", "edge"],
    "CesAgreeLow": ["bad", "edge"],
}
SCORE_OF = {
    "NpsLow": "nps",
    "NpsFew": "nps",
    "NpsHigh": "nps",
    "CheckoutChannels": "nps",
    "CsatLow": "csat",
    "CsatPoint": "csat",
    "CesMeanHard": "ces_mean",
    "CesAgreeLow": "ces_agree",
}


def test_every_kind_of_exported_rule_fires_where_the_worked_numbers_say(tmp_path):
    exported = export_every_score(tmp_path)
    firing = {
        (alert, SCORE_OF[alert]): [
            (touchpoint, ", channel: voice" if alert == "CheckoutChannels" else "")
            for touchpoint in touchpoints
        ]
        for alert, touchpoints in FIRING.items()
    }
    assert_promtool_fires(tmp_path, exported.stdout, WORKED_SERIES, firing)


def assert_promtool_fires(tmp_path, alerts, series, firing, at="2m"):
    """promtool fires the exported ``alerts`` on ``series`` exactly as ``firing`` says at time
    ``at``: (alert, score) -> [(touchpoint, extra labels)]."""
    (tmp_path / "alerts.yml").write_text(alerts)
    expected = ""
    for (alert, score), where in firing.items():
        expected += f"      - eval_time: {at}\n        alertname: {alert}\n        exp_alerts:\n"
        for touchpoint, extra in where:
            expected += (
                f"          - exp_labels: {{severity: warning, score: {score}, window: 1h,"
                f" touchpoint: {touchpoint}{extra}}}\n"
                f"            exp_annotations: {{summary: {score} 1h for {touchpoint} breaches"
                f" rule {alert}}}\n"
            )
    test = tmp_path / "alerts_test.yml"
    test.write_text(
        "rule_files: [alerts.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n"
        "    input_series:\n" + series + "    alert_rule_test:\n" + expected
    )
    checked = subprocess.run(
        ["promtool", "test", "rules", str(test)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


ODD_NAMES = """
rules:
  - name: NamedLow
    score: csat
    touchpoints: [support-call, web.checkout, chat (EN), a+b, "say \\"hi\\""]
    threshold: {window: 1h, below: 0.8, confidence: 0}
"""


def test_rules_naming_touchpoints_of_any_spelling_export_and_fire_on_exactly_those(tmp_path):
    """Names with hyphens, dots, spaces, parentheses, plus signs and quotes are written as
    Prometheus reads them (it refused the whole file for ``support-call``), and match as
    names: ``web.checkout`` does not fire for ``webXcheckout``."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(ODD_NAMES)
    exported = streamer("rules", "export", "--prometheus", str(rules), "--windows", "1h")
    assert "SUCCESS: 1 rules found" in promtool_check(tmp_path, exported.stdout)
    named = ["support-call", "web.checkout", "chat (EN)", "a+b"]
    series = "".join(_csat(touchpoint, 40, 20) for touchpoint in [*named, "webXcheckout", "ab"])
    assert_promtool_fires(
        tmp_path, exported.stdout, series, {("NamedLow", "csat"): [(t, "") for t in named]}
    )


def test_an_alert_stays_one_alert_when_its_series_moves_to_another_worker(tmp_path):
    """A rebalance (a rolling update) moves a series to another worker: with the scraped
    worker's labels kept, its alert resolved and fired again, its `for` starting over."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - {name: CsatLow, score: csat, for: 3m,"
        " threshold: {window: 1h, below: 0.8, confidence: 0}}\n"
    )
    exported = streamer("rules", "export", "--prometheus", str(rules), "--windows", "1h")
    labels = 'touchpoint="checkout",window="1h"'
    moved = "".join(
        f"      - {{series: '{name}{{{labels},instance=\"{worker}\"}}', values: '{values}'}}\n"
        for name, value in (("cx_responses", 40), ("cx_satisfied", 20), ("cx_csat_ratio", 0.5))
        for worker, values in (
            ("worker-0:6066", f"{value}x2 _x4"),  # its series until minute 2
            ("worker-1:6066", f"_x1 {value}x5"),  # then here, one minute of overlap
        )
    ).replace("cx_responses{touchpoint", 'cx_responses{metric="csat",touchpoint')
    # pending from minute 0 on worker-0, firing from minute 3 on worker-1
    assert_promtool_fires(
        tmp_path, exported.stdout, moved, {("CsatLow", "csat"): [("checkout", "")]}, at="5m"
    )


EQUIVALENCE_RULES = """
rules:
  - name: NpsBelow
    score: nps
    threshold: {window: 1h, below: 10, confidence: 0.9}
    min_responses: 3
  - name: NpsAbove
    score: nps
    threshold: {window: 1h, above: 30, confidence: 0.99}
    min_responses: 3
  - name: CesBelow
    score: ces_mean
    threshold: {window: 1h, below: 4.5, confidence: 0.95}
    min_responses: 13
  - name: CesAbove
    score: ces_mean
    threshold: {window: 1h, above: 4, confidence: 0.99}
    min_responses: 22
"""


def test_the_export_fires_exactly_where_the_worker_breaches(tmp_path):
    """On seeded random window counts, from 1 answer up and on both sides of each line,
    Prometheus fires the exported rules on exactly the series the worker's own verdict
    (``evaluate_threshold``) breaches on."""
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(EQUIVALENCE_RULES)
    rules = read_rules(str(rules_path), {"1h": 3_600_000})
    exported = streamer("rules", "export", "--prometheus", str(rules_path), "--windows", "1h")
    rng = random.Random(7)
    series, firing = "", {rule.name: [] for rule in rules}
    for i in range(60):
        touchpoint = f"tp{i:02d}"
        n = rng.choice([1, 2, 3, 4, 5, 8, 12, 20, 30, 50, 80, 150, 400])
        # NPS: shares around the lines, so that some bounds fall on each side
        promoter_share = rng.uniform(0.1, 0.8)
        detractor_share = rng.uniform(0.0, 1 - promoter_share)
        answers = [rng.random() for _ in range(n)]
        promoters = sum(u < promoter_share for u in answers)
        detractors = sum(promoter_share <= u < promoter_share + detractor_share for u in answers)
        nps = NpsTally(promoters, n - promoters - detractors, detractors)
        series += _nps(touchpoint, n, promoters, detractors)
        # CES 1-7, centred anywhere from 3 to 5.5, from 13 answers (the export's least)
        centre, m = rng.uniform(3.0, 5.5), max(13, n)
        scores = [min(7, max(1, round(rng.gauss(centre, 1.3)))) for _ in range(m)]
        ces = CesTally(m, sum(scores), sum(s * s for s in scores), sum(s >= 5 for s in scores))
        series += _ces(touchpoint, m, ces.total, ces.total_sq, ces.agree)
        for rule in rules:
            tally = nps if rule.score is ScoreKind.NPS else ces
            verdict = evaluate_threshold(rule, {"1h": tally}, CesPolicy())
            if verdict.signal is Signal.BREACH:
                firing[rule.name].append(touchpoint)
    print(firing)
    assert all(2 <= len(touchpoints) <= 55 for touchpoints in firing.values()), firing
    assert_promtool_fires(
        tmp_path,
        exported.stdout,
        series,
        {(r.name, r.score.value): [(tp, "") for tp in firing[r.name]] for r in rules},
    )
