"""``streamer backtest``: a file of past answers through the rules, transitions out."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streamer.cli import main

START = datetime(2026, 3, 2, tzinfo=UTC)
RULES = """
rules:
  - name: NpsLow
    score: nps
    threshold: {window: 1h, below: 0, clear: 10, confidence: 0.95}
    min_responses: 20
    for: 5m
    severity: page
"""


def write_answers(path: Path) -> None:
    """Two hours of good NPS for checkout, one hour of angry answers, two good hours again;
    chat stays good throughout. One answer a minute per touchpoint, and one bad line."""
    lines = []
    for minute in range(300):
        at = START + timedelta(minutes=minute)
        angry = 120 <= minute < 180
        for touchpoint in ("checkout", "chat"):
            score = 2 if angry and touchpoint == "checkout" else 10 if minute % 3 else 8
            lines.append(
                json.dumps(
                    {
                        "event_id": f"{touchpoint}-{minute}",
                        "touchpoint": touchpoint,
                        "metric": "nps",
                        "occurred_at": at.isoformat(),
                        "score": score,
                        "channel": "chat" if minute % 2 else "voice",
                    }
                )
            )
    lines.append('{"event_id": "x", "metric": "nps"}')
    path.write_text("\n".join(lines) + "\n")


def test_json_lines_name_every_transition_and_nothing_else(tmp_path: Path, capsys, monkeypatch):
    answers, rules = tmp_path / "answers.jsonl", tmp_path / "rules.yaml"
    write_answers(answers)
    rules.write_text(RULES)
    monkeypatch.setenv("STREAMER_WINDOWS", "5m,1h")
    assert main(["backtest", str(answers), "--rules", str(rules), "--json"]) == 0
    out = capsys.readouterr()
    records = [json.loads(line) for line in out.out.splitlines()]
    assert [(r["rule"], r["status"], r["touchpoint"]) for r in records] == [
        ("NpsLow", "firing", "checkout"),
        ("NpsLow", "resolved", "checkout"),
    ]
    fired, resolved = records
    # 1h of angry answers from 02:00: the 1h window is sure to be under 0 once enough of it is
    # angry, and `for` 5m later it pages; it resolves once the window is back over 10.
    assert "2026-03-02T02:" in fired["at"] and fired["at"] > "2026-03-02T02:20"
    assert "2026-03-02T03:" in resolved["at"]
    assert fired["severity"] == "page" and fired["window"] == "1h"
    assert fired["value"] < 0 and fired["n"] >= 20
    assert "backtest:" in out.err  # progress goes to stderr


def test_the_table_summarises_pages_per_rule(tmp_path: Path, capsys, monkeypatch):
    answers, rules = tmp_path / "answers.csv", tmp_path / "rules.yaml"
    rows = ["event_id,touchpoint,metric,occurred_at,score"]
    for i in range(240):
        at = (START + timedelta(minutes=i)).isoformat()
        rows.append(f"e{i},checkout,nps,{at},{2 if 60 <= i < 120 else 10}")
    answers.write_text("\n".join(rows) + "\n")
    rules.write_text(RULES)
    monkeypatch.setenv("STREAMER_WINDOWS", "5m,1h")
    assert main(["backtest", str(answers), "--rules", str(rules)]) == 0
    out = capsys.readouterr().out
    assert "240 answers over 0.2 days" in out
    summary = next(line for line in out.splitlines() if line.startswith("NpsLow "))
    assert summary.split()[:3] == ["NpsLow", "page", "1"]
