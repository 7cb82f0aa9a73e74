import subprocess
from pathlib import Path

from tests.cli import streamer


def test_exported_rules_pass_promtool(tmp_path: Path):
    exported = streamer("rules", "export", "--prometheus", "deploy/rules.example.yaml").stdout
    path = tmp_path / "alerts.yml"
    path.write_text(exported)
    checked = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 2 rules found" in checked.stdout
