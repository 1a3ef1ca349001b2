"""The code users copy must run: README.md's Python blocks and every public docstring Example."""

import inspect
import pathlib
import re

import pytest

import kerasnlm

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


ABSTRACT = (kerasnlm.models.Model, kerasnlm.models.Task)


def public_classes():
    for module in (kerasnlm.layers, kerasnlm.models, kerasnlm.tokenizers):
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and obj not in ABSTRACT:
                yield pytest.param(obj, id=f"{module.__name__}.{name}")
    yield pytest.param(kerasnlm.training.WarmupDecay, id="kerasnlm.training.WarmupDecay")
    yield pytest.param(
        kerasnlm.training.LayerwiseDecayAdamW, id="kerasnlm.training.LayerwiseDecayAdamW"
    )
    yield pytest.param(kerasnlm.training.EntityF1, id="kerasnlm.training.EntityF1")
    yield pytest.param(
        kerasnlm.training.StopOnNonFiniteLoss, id="kerasnlm.training.StopOnNonFiniteLoss"
    )
    yield pytest.param(kerasnlm.training.FinetuningTask, id="kerasnlm.training.FinetuningTask")
    for function in (kerasnlm.training.pretrain, kerasnlm.training.finetune,
                     kerasnlm.training.compile_with_recipe,
                     kerasnlm.data.split_lines, kerasnlm.export.export_saved_model,
                     kerasnlm.analysis.nearest_neighbors, kerasnlm.analysis.embedding_drift,
                     kerasnlm.analysis.semantic_search):
        yield pytest.param(function, id=f"{function.__module__}.{function.__name__}")


@pytest.mark.parametrize("cls", list(public_classes()))
def test_docstring_example_runs(cls, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = PYTHON_BLOCK.findall(inspect.cleandoc(cls.__doc__ or ""))
    assert blocks, f"{cls.__name__} has no ```python Example in its docstring"
    for block in blocks:
        exec(compile(block, f"<{cls.__name__} docstring>", "exec"), {})


README_BLOCKS = PYTHON_BLOCK.findall((ROOT / "README.md").read_text())


def test_readme_has_python_blocks():
    assert len(README_BLOCKS) >= 5


# One test a block, so the test processes share them out.
@pytest.mark.parametrize("number", range(len(README_BLOCKS)))
def test_readme_python_block_runs(number, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # what the block saves lands there
    exec(compile(README_BLOCKS[number], f"<README.md block {number}>", "exec"), {})
