import json
from pathlib import Path

from streamer.traffic.files import read_events


def test_jsonl_lines_are_sent_as_they_are_keyed_by_touchpoint(tmp_path: Path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"touchpoint": "chat", "score": 9}\n\nnot json\n{"score": 1}\r\n')
    assert list(read_events(path)) == [
        (b"chat", b'{"touchpoint": "chat", "score": 9}'),
        (None, b"not json"),  # the worker, not the replayer, rejects it (dead-letter topic)
        (None, b'{"score": 1}'),
    ]


def test_csv_rows_become_objects_with_integer_scores(tmp_path: Path):
    path = tmp_path / "events.csv"
    path.write_text(
        "event_id,occurred_at,touchpoint,metric,score,channel\n"
        "e1,2026-11-22T10:00:00Z,checkout,nps,9,\n"
        "e2,2026-11-22T10:00:00Z,checkout,csat,4.5,web\n"
    )
    rows = [(key, json.loads(value)) for key, value in read_events(path)]
    assert rows[0] == (
        b"checkout",
        {
            "event_id": "e1",
            "occurred_at": "2026-11-22T10:00:00Z",
            "touchpoint": "checkout",
            "metric": "nps",
            "score": 9,
        },
    )
    assert (
        rows[1][1]["score"] == "4.5" and rows[1][1]["channel"] == "web"
    )  # left for the worker to reject


def test_a_csv_saved_by_excel_reads_and_odd_scores_go_to_the_decoder(tmp_path: Path):
    """Excel starts a UTF-8 CSV with a byte order mark, which would become part of the first
    column's name (every row then lacks event_id); a score that only looks like digits to
    str.isdigit ('³', '--5') is left as text for the decoder to reject, not a crash."""
    path = tmp_path / "events.csv"
    path.write_text(
        "event_id,touchpoint,score\ne1,checkout,9\ne2,checkout,³\ne3,checkout,--5\n",
        encoding="utf-8-sig",
    )
    rows = [json.loads(value) for _, value in read_events(path)]
    assert [row["event_id"] for row in rows] == ["e1", "e2", "e3"]
    assert [row["score"] for row in rows] == [9, "³", "--5"]
