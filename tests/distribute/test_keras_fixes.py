"""The checks that keep kerasnlm's Keras fixes from going quietly dead.

Each fix in `kerasnlm/distribute/keras_fixes.py` overrides a piece of Keras with no public
extension point; `check_keras` refuses to import kerasnlm when that piece has changed. The bugs
themselves are reproduced where they happen: `test_mirrored.py` (bool masks and uneven
replicas under MirroredStrategy, BackupAndRestore) and `test_multi_worker.py` (dict inputs and
scalar logs with two workers) fail if one of the fixes stops working.
"""

import inspect

import keras
import pytest

from kerasnlm.distribute import keras_fixes


def test_the_pinned_keras_has_everything_the_fixes_patch():
    keras_fixes.check_keras()


class Changed:
    """A stand-in for a Keras class after a release changed it."""

    def renamed(self):
        pass

    def _maybe_symbolic_build(self, iterator=None, data_batch=None, extra=None):
        pass

    def _save_model(self):
        return "a fixed Keras writes nothing twice"


def one(fix, owner, name, parameters, bug=None):
    return [(fix, owner, name, parameters, bug)]


def test_a_removed_method_names_the_fix():
    with pytest.raises(ImportError, match=r"fix Fixes\._maybe_symbolic_build .* no longer exists"):
        keras_fixes.check_keras(
            one("Fixes._maybe_symbolic_build", Changed, "_build", ["self"])
        )


def test_a_changed_signature_names_the_fix():
    with pytest.raises(ImportError, match=r"Changed\._maybe_symbolic_build now takes"):
        keras_fixes.check_keras(
            one("Fixes._maybe_symbolic_build", Changed, "_maybe_symbolic_build",
                ["self", "iterator", "data_batch"])
        )


def test_a_fixed_bug_is_reported_too():
    with pytest.raises(ImportError, match=r"no longer contains .* \(the bug may be fixed\)"):
        keras_fixes.check_keras(
            one("BackupAndRestore._save_model", Changed, "_save_model", ["self"],
                "self._prev_weights_path")
        )


def test_every_fix_named_in_the_table_is_checked():
    fixes = {fix for fix, *_ in keras_fixes.patched_keras()}
    for fix in fixes:
        assert f"`{fix}`" in keras_fixes.__doc__
    assert fixes == {
        "StrategyFixes._maybe_symbolic_build", "StrategyFixes.compute_metrics",
        "WeightedCrossEntropy.__call__", "BackupAndRestore._save_model",
    }


def test_the_fixes_override_the_methods_they_check():
    from kerasnlm.distribute.backup import BackupAndRestore
    from kerasnlm.distribute.losses import WeightedCrossEntropy
    from kerasnlm.models import Model

    assert Model._maybe_symbolic_build is keras_fixes.StrategyFixes._maybe_symbolic_build
    assert Model.compute_metrics is keras_fixes.StrategyFixes.compute_metrics
    assert WeightedCrossEntropy.__call__ is not keras.losses.Loss.__call__
    assert "_save_model" in vars(BackupAndRestore)
    assert list(inspect.signature(WeightedCrossEntropy.__call__).parameters) == [
        "self", "y_true", "y_pred", "sample_weight"
    ]
