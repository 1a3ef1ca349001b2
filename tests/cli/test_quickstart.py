import re
import subprocess
import sys


def run_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "kerasnlm.cli.main", *args],
        cwd=cwd, capture_output=True, text=True, timeout=900,
    )


def test_quickstart_learns_sentiment_from_the_bundled_sample(tmp_path):
    result = run_cli("quickstart", "--epochs", "2", "--output-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    match = re.search(r"SST-2 dev accuracy: ([\d.]+) \(majority-class baseline ([\d.]+)\)", result.stdout)
    assert match, result.stdout[-2000:]
    accuracy, baseline = map(float, match.groups())
    assert accuracy > baseline + 0.08, (accuracy, baseline)
    assert (tmp_path / "out" / "classifier.keras").stat().st_size > 0
    assert (tmp_path / "out" / "vocab.txt").read_text().startswith("[PAD]\n")


def test_bad_arguments_exit_2_with_one_line(tmp_path):
    result = run_cli("quickstart", "--epochs", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "kerasnlm quickstart: error: `epochs` must be a positive integer; received 0."
    )
