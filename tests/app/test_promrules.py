"""``streamer rules export --prometheus``: what it exports parses with promtool, and what it
cannot export is said per rule, in the output and on stderr."""

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
    exported = streamer("rules", "export", "--prometheus", str(rules), "--windows", "1h,24h")
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
