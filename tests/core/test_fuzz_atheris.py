"""The decoder under atheris (coverage-guided, libFuzzer) for a bounded number of runs."""

import shutil
import subprocess
import sys
from pathlib import Path

from tests.fuzz.decoder_target import check

CORPUS = Path(__file__).parents[1] / "fuzz" / "corpus"


def test_the_seed_corpus_is_accepted_and_passes_the_contract_checks():
    for seed in sorted(CORPUS.iterdir()):
        assert check(seed.read_bytes()), seed.name


def test_atheris_finds_no_crash_and_no_contract_breach(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)  # libFuzzer adds what it finds to its corpus
    result = subprocess.run(
        [
            *(sys.executable, "-m", "tests.fuzz.decoder_target"),
            *("-runs=200000", "-max_len=2048", str(corpus)),
        ],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 200000 runs" in result.stderr
