"""The rules of docs/architecture.md that a machine can check."""

import ast
import importlib
import inspect
import pathlib
import pkgutil

import keras

import kerasnlm

PACKAGE = pathlib.Path(kerasnlm.__file__).parent


def modules():
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="kerasnlm."):
        if info.name != "kerasnlm.__main__":
            yield importlib.import_module(info.name)


def is_private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_module_imports_a_private_name_of_another():
    found = [
        f"{path.relative_to(PACKAGE)}: {alias.name}"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if is_private(alias.name)
    ]
    assert not found, found


# Special methods Keras asks subclasses to write (its documented extension points).
EXTENSION_POINTS = {(keras.optimizers.schedules.LearningRateSchedule, "__call__")}


def test_keras_private_methods_are_overridden_only_in_distribute():
    overrides = []
    for module in modules():
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            keras_bases = [base for base in cls.__mro__[1:]
                           if base.__module__.startswith("keras.")]
            for name in vars(cls):
                if not (is_private(name) or name == "__call__"):
                    continue
                if any(issubclass(cls, base) and point == name
                       for base, point in EXTENSION_POINTS):
                    continue
                if any(hasattr(base, name) for base in keras_bases):
                    overrides.append(f"{cls.__module__}.{cls.__name__}.{name}")
    outside = [name for name in overrides if not name.startswith("kerasnlm.distribute.")]
    assert not outside, outside
    assert overrides, "the distribute/ fixes should be found by this scan"


def test_task_kinds_are_not_tested_one_by_one():
    chains = [f"{path.relative_to(PACKAGE)}:{number}"
              for path in PACKAGE.rglob("*.py")
              for number, line in enumerate(path.read_text().splitlines(), 1)
              if "config.task ==" in line or "task == \"" in line]
    assert not chains, chains


def test_models_hold_only_architectures_and_tasks():
    # Conversion, losses and metrics have rooms of their own (docs/architecture.md).
    for name in ("hugging_face", "keras_hub_conversion", "losses"):
        assert not (PACKAGE / "models" / f"{name}.py").exists(), name
    assert keras.saving.get_registered_object("kerasnlm>WeightedCrossEntropy") is not None
