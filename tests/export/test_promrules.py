"""``streamer rules export --prometheus``: what it exports parses with promtool, fires (under
``promtool test rules``) exactly where numbers worked by hand say it must, and what it cannot
export is said per rule, in the output and on stderr."""

import subprocess
from pathlib import Path

import yaml

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


def test_every_score_and_selector_exports_to_valid_promql(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(EVERY_SCORE)
    exported = streamer(
        "rules",
        "export",
        "--prometheus",
        str(rules),
        "--windows",
        "1h,24h",
        "--dimensions",
        "channel",
    )
    assert "SUCCESS: 7 rules found" in promtool_check(tmp_path, exported.stdout)
    expressions = {
        r["alert"]: r["expr"] for r in yaml.safe_load(exported.stdout)["groups"][0]["rules"]
    }
    # a confidence bound from the counts, or the plain gauge at confidence 0
    assert "cx_ces_points_squared" in expressions["CesMeanHard"]
    assert "cx_satisfied" in expressions["CsatLow"]
    assert expressions["CsatPoint"].startswith("(cx_csat_ratio{")
    assert 'touchpoint=~"checkout"' in expressions["CheckoutChannels"]
    assert "CesAgreeLow: exported without clear: 0.65" in exported.stderr
    assert "CesDrop: not exported" in exported.stderr


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
# table: z(0.90) = 1.2816, z(0.95) = 1.6449, z(0.99) = 2.3263. NPS: per-answer variance
# P + D - (P - D)^2, SE = 100 sqrt(var / n). CES mean: sample variance, SE = sqrt(var / n).
# CSAT and CES agree: Wilson, centre (p + z^2/2n) / (1 + z^2/n), half width
# z sqrt(p(1 - p)/n + z^2/4n^2) / (1 + z^2/n). "edge" cases fire only at the one-sided z (the
# two-sided 1.96 or 1.6449 would not); "near" ones have the point estimate, not the bound, past
# the line.
WORKED_SERIES = (
    # NpsLow, below 20 at 0.90 (upper bound):
    #   bad   20/40 of 100: NPS -20, var 0.6 - 0.04 = 0.56, SE 7.48, -20 + 1.2816 * 7.48 = -10.4
    #   edge  38/30 of 100: NPS 8, var 0.68 - 0.0064 = 0.6736, SE 8.21, 8 + 10.52 = 18.5
    #   near  40/30 of 100: NPS 10, var 0.7 - 0.01 = 0.69, SE 8.31, 10 + 10.65 = 20.6: no
    #   few   0/20 of 20: NPS -100 on fewer than min_responses 30: no
    _nps("bad", 100, 20, 40)
    + _nps("edge", 100, 38, 30)
    + _nps("near", 100, 40, 30)
    + _nps("few", 20, 0, 20)
    # NpsHigh, above 80 at 0.99 (lower bound):
    #   great 95/0 of 100: var 0.95 - 0.9025 = 0.0475, SE 2.18, 95 - 2.3263 * 2.18 = 89.9
    #   good  85/0 of 100: var 0.85 - 0.7225 = 0.1275, SE 3.57, 85 - 8.31 = 76.7: no
    + _nps("great", 100, 95, 0)
    + _nps("good", 100, 85, 0)
    # CheckoutChannels, NPS below 0 at 0.95 on checkout's voice breakdown only:
    #   10/50 of 100: NPS -40, var 0.6 - 0.16 = 0.44, SE 6.63, -40 + 1.6449 * 6.63 = -29.1;
    #   the same counts on checkout's chat and on web's voice page nobody, and no breakdown
    #   series reaches the touchpoint rules (NpsLow).
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
    #   bad   mean 150/50 = 3, var (548 - 50 * 9)/49 = 2, SE 0.2, 3 + 1.6449 * 0.2 = 3.33
    #   edge  mean 144/40 = 3.6, var (596 - 518.4)/39 = 1.990, SE 0.2230, 3.6 + 0.3669 = 3.967
    #   near  mean 150/40 = 3.75, var (641 - 562.5)/39 = 2.013, SE 0.2243, 3.75 + 0.369 = 4.119: no
    # CesAgreeLow, below 0.6 at 0.95 (Wilson upper bound):
    #   bad   20/50: centre 0.42706 / 1.05411 = 0.4051, half 0.1111: 0.5163
    #   edge  18/40: centre 0.48382 / 1.06764 = 0.4532, half 0.1253: 0.5784
    #   near  20/40: centre 0.53382 / 1.06764 = 0.5000, half 0.1259: 0.6259: no
    + _ces("bad", 50, 150, 548, 20)
    + _ces("edge", 40, 144, 596, 18)
    + _ces("near", 40, 150, 641, 20)
)
FIRING = {
    "NpsLow": ["bad", "edge"],
    "NpsHigh": ["great"],
    "CheckoutChannels": ["checkout"],
    "CsatLow": ["bad", "edge"],
    "CsatPoint": ["bad", "edge", "near"],
    "CesMeanHard": ["bad", "edge"],
    "CesAgreeLow": ["bad", "edge"],
}
SCORE_OF = {
    "NpsLow": "nps",
    "NpsHigh": "nps",
    "CheckoutChannels": "nps",
    "CsatLow": "csat",
    "CsatPoint": "csat",
    "CesMeanHard": "ces_mean",
    "CesAgreeLow": "ces_agree",
}


def test_every_kind_of_exported_rule_fires_where_the_worked_numbers_say(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(EVERY_SCORE)
    exported = streamer(
        "rules",
        "export",
        "--prometheus",
        str(rules),
        "--windows",
        "1h,24h",
        "--dimensions",
        "channel",
    )
    (tmp_path / "alerts.yml").write_text(exported.stdout)
    expected = ""
    for alert, touchpoints in FIRING.items():
        score = SCORE_OF[alert]
        expected += f"      - eval_time: 2m\n        alertname: {alert}\n        exp_alerts:\n"
        for touchpoint in touchpoints:
            channel = ", channel: voice" if alert == "CheckoutChannels" else ""
            expected += (
                f"          - exp_labels: {{severity: warning, score: {score}, window: 1h,"
                f" touchpoint: {touchpoint}{channel}}}\n"
                f"            exp_annotations: {{summary: {score} 1h for {touchpoint} breaches"
                f" rule {alert}}}\n"
            )
    test = tmp_path / "alerts_test.yml"
    test.write_text(
        "rule_files: [alerts.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n"
        "    input_series:\n" + WORKED_SERIES + "    alert_rule_test:\n" + expected
    )
    checked = subprocess.run(
        ["promtool", "test", "rules", str(test)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
