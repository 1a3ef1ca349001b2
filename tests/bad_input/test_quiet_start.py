"""Issue 20, item 10: `kerasnlm --help` is quiet and fast, it does not import TensorFlow."""

import subprocess
import sys

import pytest

import kerasnlm.distribute.precision as precision
import kerasnlm.distribute.strategies as strategies
from kerasnlm.cli import choices
from kerasnlm.training import TASKS

# Parses argv as the `kerasnlm` console script does (argv[0] names it) and reports whether the
# parser pulled TensorFlow in.
_PARSE = """
import sys
sys.argv[0] = "kerasnlm"
from kerasnlm.cli.main import main
try:
    main({argv!r})
except SystemExit as exit:
    code = exit.code
print("tensorflow" in sys.modules, code)
"""


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["pretrain", "--help"],
                                  ["finetune", "--help"], ["predict", "--help"]])
def test_parsing_help_does_not_import_tensorflow(argv):
    result = subprocess.run([sys.executable, "-c", _PARSE.format(argv=argv)],
                            capture_output=True, text=True, timeout=120)
    assert result.stderr == ""
    assert result.stdout.splitlines()[-1] == "False 0"


def test_python_m_kerasnlm_help_is_silent():
    result = subprocess.run([sys.executable, "-m", "kerasnlm", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert result.stderr == ""
    assert "pretrain" in result.stdout


def test_the_command_line_choices_match_the_package():
    assert choices.PRECISIONS == precision.PRECISIONS
    assert choices.KINDS == strategies.KINDS
    assert choices.TASK_NAMES == tuple(TASKS)
