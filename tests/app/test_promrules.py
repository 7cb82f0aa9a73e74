import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_exported_rules_pass_promtool(tmp_path: Path):
    exported = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamer.cli",
            "rules",
            "export",
            "--prometheus",
            "deploy/rules.example.yaml",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = tmp_path / "alerts.yml"
    path.write_text(exported)
    checked = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 4 rules found" in checked.stdout
