from pathlib import Path

from streamer.dev.demo import AlertLines


def test_the_console_shows_alert_transitions_written_since_it_started(tmp_path: Path):
    log = tmp_path / "worker.log"
    log.write_text("[2026] INFO streamer.alerts: alert firing: old page from an earlier run\n")
    lines = AlertLines(log)
    with log.open("a") as handle:
        handle.write("[2026] INFO streamer.worker: state recovered\n")
        handle.write("[2026] INFO streamer.alerts: alert firing: NPS 5m for checkout dropped\n")
        handle.write("[2026] INFO streamer.alerts: alert resolved: NPS 5m for checkout")
    assert lines.new() == ["ALERT FIRING: NPS 5m for checkout dropped"]  # the last is unfinished
    with log.open("a") as handle:
        handle.write(" is back\n")
    assert lines.new() == ["ALERT RESOLVED: NPS 5m for checkout is back"]
    assert lines.new() == []
