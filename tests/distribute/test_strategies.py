import logging

import pytest
import tensorflow as tf

import kerasnlm as knlm
from kerasnlm.distribute import precision as precision_module


def test_auto_on_a_cpu_machine_is_the_default_strategy_and_is_kept(monkeypatch, caplog):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    knlm.distribute.strategies._strategies.pop("auto", None)
    with caplog.at_level(logging.INFO, logger="kerasnlm"):
        strategy = knlm.distribute.get_strategy()
    assert strategy is tf.distribute.get_strategy()
    assert "with 1 replica(s)" in caplog.text  # the choice is logged
    assert knlm.distribute.get_strategy("auto") is strategy  # one strategy per process
    assert knlm.distribute.is_chief(strategy)
    assert knlm.distribute.worker_path("out/best.keras") == "out/best.keras"


def test_bad_kinds_and_clusters(monkeypatch):
    with pytest.raises(ValueError, match="`kind` must be one of"):
        knlm.distribute.get_strategy("gpu")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["localhost:1"]}, "task": {}}')
    knlm.distribute.strategies._strategies.pop("multi_worker", None)
    with pytest.raises(ValueError, match="TF_CONFIG to describe a cluster of two or more"):
        knlm.distribute.get_strategy("multi_worker")


def test_precision_choice(monkeypatch):
    assert knlm.distribute.resolve_precision("mixed_float16") == "mixed_float16"
    with pytest.raises(ValueError, match="`precision` must be one of"):
        knlm.distribute.resolve_precision("bf16")
    monkeypatch.setattr(precision_module, "_cpu_flags", lambda: {"avx2", "fma"})
    assert knlm.distribute.resolve_precision("auto") == "float32"  # emulated bf16: no faster
    monkeypatch.setattr(precision_module, "_cpu_flags", lambda: {"avx512f", "amx_bf16"})
    assert knlm.distribute.resolve_precision("auto") == "mixed_bfloat16"
    assert knlm.distribute.set_precision("mixed_bfloat16") == "mixed_bfloat16"
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=30, sequence_length=8, num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16,
    )
    assert backbone.dtype_policy.name == "mixed_bfloat16"


def test_configs_check_strategy_and_precision(tmp_path):
    samples = knlm.data.samples
    common = dict(task="classification", train=samples.sst2("train"), dev=samples.sst2("dev"),
                  output_dir=str(tmp_path))
    with pytest.raises(ValueError, match="`strategy` must be one of"):
        knlm.training.FinetuneConfig(**common, strategy="gpus")
    with pytest.raises(ValueError, match="`precision` must be one of"):
        knlm.training.FinetuneConfig(**common, precision="fp16")
