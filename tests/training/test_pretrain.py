import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

import kerasnlm as knlm

TINY = dict(
    num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64, sequence_length=32,
    batch_size=16, warmup_steps=5, learning_rate=2e-3, dropout=0.1, verbose=0,
)


def write_config(path, **settings):
    settings = {
        "corpus": [knlm.data.samples.english_text()],
        "vocabulary": knlm.data.samples.vocabulary(),
        **TINY,
        **settings,
    }
    path.write_text(yaml.safe_dump(settings))
    return path


def cli(*args):
    return [sys.executable, "-m", "kerasnlm.cli.main", *args]


def latest_step(output_dir):
    try:
        with open(os.path.join(output_dir, "checkpoints", "latest.json")) as f:
            return json.load(f)["step"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def final_state(output_dir):
    with open(os.path.join(output_dir, "checkpoints", "latest.json")) as f:
        record = json.load(f)
    with np.load(os.path.join(output_dir, "checkpoints", record["file"])) as arrays:
        return record["step"], [arrays[name] for name in sorted(arrays.files)]


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    config = write_config(
        tmp_path / "config.yaml", objective="masked_lm", steps=60, checkpoint_every=20
    )
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(cli("pretrain", "--config", str(config), "--set", f"output_dir={whole}"),
                   check=True, timeout=900, capture_output=True)

    run = subprocess.Popen(
        cli("pretrain", "--config", str(config), "--set", f"output_dir={killed}"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 600
    while latest_step(killed) < 20 and run.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=60)
    interrupted_at = latest_step(killed)
    assert 20 <= interrupted_at < 60, f"the run was not killed mid-way ({interrupted_at})"
    assert not (killed / "backbone.keras").exists()

    resumed = subprocess.run(
        cli("pretrain", "--config", str(config), "--set", f"output_dir={killed}"),
        timeout=900, capture_output=True, text=True,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    step_whole, state_whole = final_state(whole)
    step_killed, state_killed = final_state(killed)
    assert step_whole == step_killed == 60
    assert len(state_whole) == len(state_killed)
    for a, b in zip(state_whole, state_killed):
        np.testing.assert_array_equal(a, b)
    assert (killed / "backbone.keras").exists() and (killed / "logs").is_dir()


def test_pretrained_causal_lm_beats_the_unigram_baseline(tmp_path):
    config = knlm.training.PretrainConfig(
        corpus=[knlm.data.samples.english_text()], output_dir=str(tmp_path / "run"),
        vocabulary=knlm.data.samples.vocabulary(), objective="causal_lm",
        **{**TINY, "hidden_dim": 64, "intermediate_dim": 128, "learning_rate": 5e-3,
           "warmup_steps": 20, "dropout": 0.0},
        normalize_first=True, steps=300, checkpoint_every=100,
    )
    model = knlm.training.pretrain(config)
    tokenizer = model.tokenizer
    train = knlm.data.causal_lm_dataset(knlm.data.samples.english_text(), tokenizer,
                                        sequence_length=32, batch_size=16, seed=0)
    held_out = knlm.data.causal_lm_dataset(knlm.data.samples.english_text("valid"), tokenizer,
                                           sequence_length=32, batch_size=16, shuffle=False)
    baseline = knlm.training.unigram_perplexity(
        train.take(300), held_out, tokenizer.vocabulary_size
    )
    perplexity = model.evaluate(held_out, return_dict=True, verbose=0)["perplexity"]
    assert perplexity < 0.8 * baseline, (perplexity, baseline)
    # The saved backbone is the trained one.
    import keras

    backbone = keras.models.load_model(tmp_path / "run" / "backbone.keras")
    np.testing.assert_array_equal(
        backbone.token_embedding.embeddings.numpy(),
        model.backbone.token_embedding.embeddings.numpy(),
    )


def test_electra_pretraining_trains_a_discriminator_backbone_to_fine_tune(tmp_path):
    config = knlm.training.PretrainConfig(
        corpus=[knlm.data.samples.english_text()], output_dir=str(tmp_path / "run"),
        vocabulary=knlm.data.samples.vocabulary(), objective="electra",
        validation=knlm.data.samples.english_text("valid"), validation_steps=4,
        **{**TINY, "dropout": 0.0}, normalize_first=True, steps=100, checkpoint_every=50,
    )
    model = knlm.training.pretrain(config)
    assert isinstance(model, knlm.models.ElectraPretrainer)
    assert int(model.optimizer.iterations) == 100
    held_out = knlm.data.masked_lm_dataset(
        knlm.data.samples.english_text("valid"), model_tokenizer(config), sequence_length=32,
        batch_size=16, pack_documents=True, shuffle=False, seed=0,
    ).take(4)
    untrained = knlm.models.ElectraPretrainer(config.build_backbone(model.backbone.vocabulary_size))
    untrained.compile()
    before = untrained.evaluate(held_out, return_dict=True, verbose=0)
    after = model.evaluate(held_out, return_dict=True, verbose=0)
    assert after["loss"] < 0.9 * before["loss"], (before, after)
    # The saved backbone is the trained discriminator, ready for the fine-tuning recipe.
    import keras

    backbone = keras.models.load_model(tmp_path / "run" / "backbone.keras")
    np.testing.assert_array_equal(
        backbone.token_embedding.embeddings.numpy(),
        model.backbone.token_embedding.embeddings.numpy(),
    )
    assert backbone.pretrained
    classifier = knlm.models.SequenceClassifier(backbone, num_classes=2)
    classifier.compile()
    assert classifier._recipe.name == "fine_tuning"


def model_tokenizer(config):
    return knlm.tokenizers.WordPieceTokenizer(vocabulary=config.vocabulary)


def test_mask_rate_sets_the_training_masks_and_validation_keeps_bert_s(tmp_path):
    from kerasnlm.training.pretrain import _datasets

    config = knlm.training.PretrainConfig(
        corpus=[knlm.data.samples.english_text()], output_dir=str(tmp_path / "run"),
        vocabulary=knlm.data.samples.vocabulary(), validation=knlm.data.samples.english_text(
            "valid"), objective="electra", mask_rate=0.4, **TINY)
    tokenizer = model_tokenizer(config)
    train, validation = _datasets(config, tokenizer, config.corpus_files())

    def rate(dataset):
        # Packed windows: every piece but [CLS] and the [SEP]s between documents is eligible.
        masked = eligible = 0
        for x, _, weights in dataset.take(4):
            ids = x["token_ids"].numpy()
            eligible += ((ids != tokenizer.cls_id) & (ids != tokenizer.sep_id)).sum()
            masked += weights.numpy().sum()
        return masked / eligible

    assert abs(rate(train) - 0.4) < 0.02
    assert abs(rate(validation) - 0.15) < 0.02


def test_resume_with_a_different_model_is_refused(tmp_path):
    base = {**TINY, "warmup_steps": 1}
    config = knlm.training.PretrainConfig(
        corpus=[knlm.data.samples.english_text()], output_dir=str(tmp_path / "run"),
        vocabulary=knlm.data.samples.vocabulary(), steps=2, checkpoint_every=2, **base,
    )
    knlm.training.pretrain(config)
    changed = knlm.training.PretrainConfig(**{**config.__dict__, "hidden_dim": 64})
    with pytest.raises(ValueError, match=r"different configuration \(hidden_dim: 32 -> 64\)"):
        knlm.training.pretrain(changed)


@pytest.mark.parametrize(
    "settings, error, message",
    [
        (dict(steps=30, checkpoint_every=20), ValueError, "multiple of `checkpoint_every`"),
        (dict(objective="span_lm"), ValueError, "`objective` must be one of"),
        (dict(mask_rate=1.5), ValueError, r"`mask_rate` must be in \(0, 1\); received 1.5"),
        (dict(corpus=["/nonexistent/*.txt"]), FileNotFoundError, "No file matches"),
        (dict(hidden_size=3), ValueError, r"Unknown settings .*hidden_size"),
    ],
)
def test_bad_configs(tmp_path, settings, error, message):
    path = write_config(tmp_path / "config.yaml", output_dir=str(tmp_path / "out"),
                        **{"steps": 20, "checkpoint_every": 10, **settings})
    with pytest.raises(error, match=message):
        knlm.training.pretrain(knlm.training.PretrainConfig.from_file(str(path)))


def test_empty_corpus_is_refused(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    path = write_config(tmp_path / "config.yaml", output_dir=str(tmp_path / "out"),
                        corpus=[str(empty)], steps=20, checkpoint_every=10)
    result = subprocess.run(cli("pretrain", "--config", str(path)), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2
    assert (
        "empty" in result.stderr.strip().splitlines()[-1].lower()
        or "no usable text" in result.stderr.lower()
    )
