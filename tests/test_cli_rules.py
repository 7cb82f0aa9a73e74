import subprocess
import sys
from pathlib import Path

import pytest

from streamer.cli import main


def test_rules_check_accepts_a_valid_file(tmp_path: Path, capsys):
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n  - name: low\n    score: nps\n    threshold: {window: 1h, below: 20}\n"
    )
    assert main(["rules", "check", str(path)]) == 0
    assert "1 rule(s), all valid" in capsys.readouterr().out


def test_rules_check_prints_every_error_with_its_path(tmp_path: Path, capsys):
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - name: low\n    score: nps\n    threshold: {window: 1h, below: 20}\n    for: later\n"
        "  - name: drop\n    score: csat\n    drop: {window: 2h, baseline: 7d, p_value: 0.01}\n"
        "    labels: {queue-name: x, alertname: y}\n"
    )
    assert main(["rules", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "rules[0].for: expected a duration like 5m, got 'later'" in err
    assert "rules[1].drop.window: unknown window '2h'" in err
    assert "rules[1].drop.p_value: replaced by false_alarms" in err
    assert "rules[1].drop.min_drop: required" in err
    assert "rules[1].labels.queue-name: not a name Alertmanager accepts" in err
    assert "rules[1].labels.alertname: the rule's name is its alertname" in err
    assert "6 error(s)" in err


def test_rules_check_refuses_an_empty_file(tmp_path: Path, capsys):
    path = tmp_path / "rules.yaml"
    path.write_text("# nothing yet\n")
    assert main(["rules", "check", str(path)]) == 1
    assert "no rules in the file" in capsys.readouterr().err


def test_rules_check_uses_the_configured_windows(tmp_path: Path, capsys, monkeypatch):
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n  - name: low\n    score: nps\n    threshold: {window: 1m, below: 20}\n"
    )
    monkeypatch.setenv("STREAMER_WINDOWS", "1m,1h")
    assert main(["rules", "check", str(path)]) == 0
    monkeypatch.setenv("STREAMER_WINDOWS", "5m,1h")
    assert main(["rules", "check", str(path)]) == 1


def test_rules_check_reports_yaml_syntax_with_its_line(tmp_path: Path):
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - name: [unclosed\n")
    result = subprocess.run(
        [sys.executable, "-m", "streamer.cli", "rules", "check", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "not valid YAML at line" in result.stderr


def test_the_shipped_rules_are_valid(monkeypatch):
    deploy = Path(__file__).parents[1] / "deploy"
    assert main(["rules", "check", str(deploy / "rules.example.yaml")]) == 0
    demo = str(deploy / "rules.demo.yaml")
    assert main(["rules", "check", "--windows", "1m,5m,1h,24h,7d", demo]) == 0


def test_the_worker_refuses_an_invalid_rules_file(tmp_path: Path):
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - name: x\n    score: nps\n    threshold: {window: 3h, below: 1}\n")
    result = subprocess.run(
        [sys.executable, "-m", "streamer.cli", "worker"],
        capture_output=True,
        text=True,
        env={
            "STREAMER_RULES": str(path),
            "PATH": "/usr/bin:/bin",
            "KAFKA_BOOTSTRAP": "127.0.0.1:1",
        },
        timeout=60,
    )
    assert result.returncode == 2
    assert "rules[0].threshold.window: unknown window '3h'" in result.stderr


@pytest.mark.parametrize(
    ("args", "environment", "said"),
    [
        (
            ["rules", "check", "deploy/rules.example.yaml", "--windows", "5m,1x"],
            {},
            "argument --windows: expected a duration like 5m, got '1x'",
        ),
        (
            ["rules", "export", "--prometheus", "deploy/rules.example.yaml", "--dimensions", "x"],
            {},
            "argument --dimensions: unknown dimension 'x'",
        ),
        (
            ["rules", "check", "deploy/rules.example.yaml"],
            {"STREAMER_WEB_PORT": "abc"},
            "streamer rules check: the settings are invalid:\n  STREAMER_WEB_PORT:",
        ),
        (
            ["dashboard"],
            {"STREAMER_CES_SCALE": "1-10"},
            "streamer dashboard: the settings are invalid:\n"
            "  STREAMER_CES_SCALE: expected 1-7 or 1-5, got '1-10'",
        ),
        (
            ["backtest", "answers.jsonl", "--rules", "deploy/rules.example.yaml"],
            {"STREAMER_WINDOWS": "5m,1x"},
            "  STREAMER_WINDOWS: expected a duration like 5m, got '1x'",
        ),
        (
            ["simulate", "--drop", "checkout:nps"],
            {},
            "argument --drop: expected a drop like checkout:nps:-40@120s, got 'checkout:nps'",
        ),
    ],
)
def test_every_command_reports_a_bad_setting_or_option_in_a_line_not_a_traceback(
    args, environment, said, monkeypatch, capsys
):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    try:
        status = main(args)
    except SystemExit as usage_error:  # argparse's, for an option
        status = usage_error.code
    assert status == 2
    err = capsys.readouterr().err
    assert said in err
    assert "Traceback" not in err
