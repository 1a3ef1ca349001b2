"""`compile()` picks the optimizer recipe that fits the backbone's weights."""

import keras
import numpy as np
import pytest

import kerasnlm as knlm
from kerasnlm.training import recipes

TINY = dict(num_layers=1, num_heads=2, hidden_dim=32, intermediate_dim=64)


def new_backbone(tokenizer):
    return knlm.models.TransformerBackbone(tokenizer.vocabulary_size, 32, **TINY)


def sst2_batches(tokenizer, count=64, batch_size=16):
    texts, labels = knlm.data.read_tsv(knlm.data.samples.sst2("train"))
    return knlm.data.classification_dataset(
        texts[:count], labels[:count], tokenizer, sequence_length=32, batch_size=batch_size,
        num_classes=2, seed=0,
    )


def rates(schedule, steps):
    return np.array([float(schedule(step)) for step in range(steps + 1)])


def assert_fine_tuning_schedule(model, total_steps):
    schedule = recipes.current_schedule(model.optimizer)
    assert isinstance(schedule, knlm.training.WarmupDecay)
    assert schedule.total_steps == total_steps and schedule.decay == "linear"
    values = rates(schedule, total_steps)
    assert 0 < values.max() <= 2e-4
    assert schedule.warmup_steps >= 1 and values[0] < values.max()  # warms up
    assert values[-1] == 0.0  # and decays to zero at the end of the run


def test_a_hugging_face_checkpoint_compiles_with_the_fine_tuning_recipe(minilm_path):
    backbone = knlm.models.TransformerBackbone.from_pretrained(minilm_path)
    assert backbone.pretrained and backbone.get_config()["pretrained"] is True
    classifier = knlm.models.SequenceClassifier(backbone, num_classes=2)
    classifier.compile(total_steps=200)
    assert_fine_tuning_schedule(classifier, 200)
    assert classifier.optimizer.weight_decay == 0.01


def test_weight_decay_spares_biases_and_layer_norm_parameters():
    optimizer = recipes.RECIPES["fine_tuning"].optimizer(0.1)
    names = ("kernel", "bias", "gamma", "beta")
    variables = [keras.Variable(np.ones(3), name=name) for name in names]
    optimizer.apply_gradients([(np.zeros(3, "float32"), v) for v in variables])  # decay alone
    kernel, *exempt = [keras.ops.convert_to_numpy(v) for v in variables]
    np.testing.assert_allclose(kernel, 1 - 0.1 * 0.01, rtol=1e-6)
    for value in exempt:
        np.testing.assert_array_equal(value, 1.0)


def test_fit_plans_the_schedule_from_its_epochs_and_steps(tokenizer, tmp_path, capsys):
    backbone = new_backbone(tokenizer)
    backbone.save(tmp_path / "backbone.keras")
    reloaded = keras.models.load_model(tmp_path / "backbone.keras")
    assert reloaded.pretrained  # loaded weights are trained weights

    classifier = knlm.models.SequenceClassifier(reloaded, num_classes=2)
    classifier.compile()
    classifier.fit(sst2_batches(tokenizer), epochs=2, verbose=2)  # 4 batches an epoch
    assert_fine_tuning_schedule(classifier, 8)
    printed = capsys.readouterr().out
    assert "fine-tuning recipe (pretrained backbone)" in printed
    assert "peak learning rate 0.0001" in printed and "warm-up over 1 of 8 steps" in printed

    # numpy inputs: steps from the rows, the batch size and the validation split.
    x = {"token_ids": np.full((40, 8), 5, "int32"), "padding_mask": np.ones((40, 8), bool)}
    classifier.compile()
    classifier.fit(x, np.zeros(40, "int32"), batch_size=8, validation_split=0.2, verbose=0)
    assert recipes.current_schedule(classifier.optimizer).total_steps == 4


def test_pretraining_in_process_makes_the_next_task_fine_tune(tokenizer):
    backbone = new_backbone(tokenizer)
    mlm = knlm.models.MaskedLanguageModel(backbone)
    mlm.compile()
    assert recipes.current_schedule(mlm.optimizer) is None  # from scratch: constant 5e-4
    mlm.fit(knlm.data.masked_lm_dataset(
        knlm.data.samples.english_text(), tokenizer, sequence_length=32, batch_size=8, seed=0,
    ).take(2), verbose=0)
    assert backbone.pretrained
    classifier = knlm.models.SequenceClassifier(backbone, num_classes=2)
    classifier.compile(total_steps=10)
    assert_fine_tuning_schedule(classifier, 10)


def test_a_second_fit_after_the_schedule_ran_out_plans_a_new_one(tokenizer):
    backbone = new_backbone(tokenizer)
    backbone.pretrained = True
    classifier = knlm.models.SequenceClassifier(backbone, num_classes=2)
    classifier.compile()
    batches = sst2_batches(tokenizer, count=32)
    classifier.fit(batches, epochs=1, verbose=0)
    first = recipes.current_schedule(classifier.optimizer)
    assert (first.start_step, first.end_step) == (0, 2)
    # The first schedule ends at rate 0: a step traced with it would not move the weights.
    before = keras.ops.convert_to_numpy(backbone.token_embedding.embeddings).copy()
    classifier.fit(batches, epochs=2, verbose=0)
    second = recipes.current_schedule(classifier.optimizer)
    assert (second.start_step, second.end_step) == (2, 6)
    after = keras.ops.convert_to_numpy(backbone.token_embedding.embeddings)
    assert not np.array_equal(before, after)


def test_the_recipe_and_its_plan_survive_save_and_load(tokenizer, tmp_path):
    backbone = new_backbone(tokenizer)
    backbone.pretrained = True
    classifier = knlm.models.SequenceClassifier(backbone, num_classes=2)
    classifier.compile()
    classifier.fit(sst2_batches(tokenizer), epochs=2, steps_per_epoch=1, verbose=0)
    classifier.save(tmp_path / "classifier.keras")
    reloaded = keras.models.load_model(tmp_path / "classifier.keras")
    assert reloaded.backbone.pretrained
    assert recipes.current_schedule(reloaded.optimizer).get_config() == (
        recipes.current_schedule(classifier.optimizer).get_config()
    )
    reloaded.fit(sst2_batches(tokenizer), epochs=1, verbose=0)  # the plan ran out: a new one
    assert recipes.current_schedule(reloaded.optimizer).start_step == 2


def test_a_new_backbone_keeps_the_from_scratch_recipe(tokenizer, capsys):
    classifier = knlm.models.SequenceClassifier(new_backbone(tokenizer), num_classes=2)
    assert not classifier.backbone.pretrained
    classifier.compile()
    assert recipes.current_schedule(classifier.optimizer) is None
    assert float(classifier.optimizer.learning_rate) == pytest.approx(5e-4)
    classifier.fit(sst2_batches(tokenizer, count=16), epochs=1, verbose=2)
    assert "from-scratch recipe (new backbone)" in capsys.readouterr().out
    assert float(classifier.optimizer.learning_rate) == pytest.approx(5e-4)


def test_an_explicit_learning_rate_always_wins(tokenizer):
    backbone = new_backbone(tokenizer)
    backbone.pretrained = True
    classifier = knlm.models.SequenceClassifier(backbone, num_classes=2)
    classifier.compile(learning_rate=3e-3)
    classifier.fit(sst2_batches(tokenizer, count=16), epochs=1, verbose=0)
    assert recipes.current_schedule(classifier.optimizer) is None
    assert float(classifier.optimizer.learning_rate) == pytest.approx(3e-3)

    schedule = knlm.training.WarmupDecay(2e-3, total_steps=50, warmup_steps=5, decay="cosine")
    classifier.compile(learning_rate=schedule, weight_decay=0.0)
    classifier.fit(sst2_batches(tokenizer, count=16), epochs=1, verbose=0)
    assert recipes.current_schedule(classifier.optimizer).get_config() == schedule.get_config()
    assert classifier.optimizer.weight_decay == 0.0

    with pytest.raises(ValueError, match="set them on the optimizer itself"):
        classifier.compile(optimizer="adam", learning_rate=1e-3)
    with pytest.raises(ValueError, match="total_steps"):
        classifier.compile(total_steps=0)


def test_a_run_of_unknown_length_warms_up_then_holds_the_peak(tokenizer, capsys):
    backbone = new_backbone(tokenizer)
    backbone.pretrained = True
    classifier = knlm.models.SequenceClassifier(backbone, num_classes=2)
    classifier.compile()

    def batches():
        yield from sst2_batches(tokenizer, count=16).as_numpy_iterator()

    classifier.fit(batches(), epochs=1, verbose=2)
    schedule = recipes.current_schedule(classifier.optimizer)
    assert schedule.total_steps is None and schedule.decay == "constant"
    values = rates(schedule, 300)
    assert values[0] == 0 and values[100] == values[300] == pytest.approx(1e-4)
    assert "the run's length is unknown" in capsys.readouterr().out


def test_finetune_uses_the_recipe_unless_the_config_sets_it(tokenizer, tmp_path):
    keras.utils.set_random_seed(1)
    backbone = knlm.models.TransformerBackbone(tokenizer.vocabulary_size, 48, **TINY)
    backbone.save(tmp_path / "backbone.keras")
    tokenizer.save_vocabulary(str(tmp_path / "vocab.txt"))
    samples = knlm.data.samples
    common = dict(
        task="classification", train=samples.sst2("train"), dev=samples.sst2("dev"),
        backbone=str(tmp_path / "backbone.keras"), sequence_length=48, epochs=1,
        max_train_examples=64, batch_size=16, verbose=0,
    )
    config = knlm.training.FinetuneConfig(output_dir=str(tmp_path / "auto"), **common)
    model, _ = knlm.training.finetune(config)
    assert_fine_tuning_schedule(model, 4)

    config = knlm.training.FinetuneConfig(
        output_dir=str(tmp_path / "set"), learning_rate=1e-3, decay="cosine", **common
    )
    model, _ = knlm.training.finetune(config)
    schedule = recipes.current_schedule(model.optimizer)
    assert schedule.peak_learning_rate == 1e-3
    assert (schedule.decay, schedule.warmup_steps) == ("cosine", 1)
