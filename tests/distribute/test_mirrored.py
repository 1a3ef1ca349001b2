"""MirroredStrategy over two logical CPU devices: the code path of several GPUs, run here in a
subprocess (TensorFlow fixes its devices at start-up)."""

from helpers import run_script

EQUIVALENCE = """
import warnings
import numpy as np
import keras
import kerasnlm as knlm

mirrored = knlm.distribute.get_strategy("mirrored")
assert mirrored.num_replicas_in_sync == 2, knlm.distribute.describe(mirrored)


def build(strategy, task, jit_compile="auto"):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        backbone = knlm.models.TransformerBackbone(
            vocabulary_size=60, sequence_length=8, num_layers=2, num_heads=2, hidden_dim=16,
            intermediate_dim=32, dropout=0.0)
        if task == "tokens":
            model = knlm.models.TokenClassifier(backbone, num_classes=3, dropout=0.0)
        else:
            model = knlm.models.SequenceClassifier(backbone, num_classes=2, dropout=0.0)
        model.compile(learning_rate=1e-3, jit_compile=jit_compile)
        model.optimizer.build(model.trainable_variables)
    # Each data set below starts again from these values: one model and one traced step per
    # strategy and task, instead of a fresh build and trace for every data set.
    start = [v.numpy() for v in model.weights], [v.numpy() for v in model.optimizer.variables]
    return model, start


def train(model, start, task, examples):
    for variables, values in zip((model.weights, model.optimizer.variables), start):
        for variable, value in zip(variables, values):
            variable.assign(value)
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 60, size=(examples, 8)).astype("int32")
    # Rows of 1 to 8 real tokens: the two replicas of a batch hold different numbers of them.
    mask = (np.arange(8)[None] < rng.integers(1, 9, size=examples)[:, None]).astype("int32")
    x = {"token_ids": ids, "padding_mask": mask}
    if task == "tokens":
        y = (rng.integers(0, 3, size=(examples, 8)), mask.astype("float32"))
    else:
        y = (np.arange(examples) % 2,)
    data = tf.data.Dataset.from_tensor_slices((x, *y)).batch(8)
    history = model.fit(data, epochs=3, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 3 * len(data)  # restarted from step 0
    return history.history, comparable_weights(model)


def comparable_weights(model):
    # The key bias adds the same amount to every score of a query, which softmax ignores: its
    # true gradient is 0, and Adam turns the round-off in that 0 into full-size steps (the
    # copies drifted 8.3e-5 apart in 12 steps on an AMD EPYC, all else within 7e-7). Compared
    # without it; the query and value biases stay in.
    values = []
    for weight in model.weights:
        value = weight.numpy()
        if weight.path.endswith("query_key_value/bias"):
            third = value.shape[0] // 3
            value = np.concatenate([value[:third], value[2 * third:]])
        values.append(value)
    return values


default = tf.distribute.get_strategy()
# The token classifier under the mirrored strategy is compiled with `jit_compile=True`: XLA
# cannot compile the mirrored update (keras-hub #949), so it must be refused with a warning,
# not a crash, and the step then runs as the graph that "auto" gives on a CPU, to be checked
# like the other.
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    models = {}
    for strategy in (default, mirrored):
        for task in ("sequences", "tokens"):
            jit = strategy is mirrored and task == "tokens"
            models[strategy, task] = build(strategy, task, jit_compile=jit or "auto")
assert any("jit_compile=True` is turned off" in str(w.message) for w in caught)
assert models[mirrored, "tokens"][0].jit_compile is False
# 29 examples: the last batch of 5 splits 3/2; 25: its one example leaves a replica empty
# (a loss of 0/0 there would be NaN).
for task, examples in (("sequences", 32), ("tokens", 32), ("tokens", 29), ("sequences", 25),
                       ("tokens", 25)):
    losses, weights = train(*models[default, task], task, examples)
    mirrored_losses, mirrored_weights = train(*models[mirrored, task], task, examples)
    difference = max(np.abs(a - b).max() for a, b in zip(weights, mirrored_weights))
    print("RESULT", task, examples, losses, mirrored_losses, difference)
    assert np.all(np.isfinite(mirrored_losses["loss"]))
    # 12 AdamW steps: float32 round-off of the all-reduce, amplified by Adam's normalization.
    assert difference < 5e-5, (task, examples, difference)
    if examples == 32:  # (uneven last batches: Keras' loss log weighs the replicas equally)
        for name in ("loss", "accuracy"):  # metrics aggregate over the replicas
            np.testing.assert_allclose(mirrored_losses[name], losses[name], rtol=1e-5)
print("OK jit_compile")
print("OK equivalence")

# Dropout: each replica draws its own mask; on one device it is Keras' dropout.
with mirrored.scope():
    dropout = knlm.layers.Dropout(0.5, seed=1)
step = tf.function(lambda: mirrored.run(lambda: dropout(tf.ones((4, 64)), training=True)))
first, second = [v.numpy() for v in step().values]
assert not np.array_equal(first, second)
keras_dropout, ours = keras.layers.Dropout(0.5, seed=3), knlm.layers.Dropout(0.5, seed=3)
np.testing.assert_array_equal(
    ours(tf.ones((4, 64)), training=True), keras_dropout(tf.ones((4, 64)), training=True))
print("OK dropout")

# A translator: four inputs with bool masks from the pipeline, then generation.
english, spanish = knlm.data.read_parallel(knlm.data.samples.spa_eng())
tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
data = knlm.data.seq2seq_dataset(english[:64], spanish[:64], tokenizer, sequence_length=16,
                                 batch_size=16, shuffle=False)
results = []
for strategy in (default, mirrored):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        encoder = knlm.models.TransformerBackbone(
            vocabulary_size=tokenizer.vocabulary_size, sequence_length=16, num_layers=1,
            num_heads=2, hidden_dim=16, intermediate_dim=32, dropout=0.0)
        translator = knlm.models.Seq2SeqTransformer(encoder, tokenizer=tokenizer)
        translator.compile(learning_rate=1e-3)
    history = translator.fit(data, epochs=2, verbose=0).history
    results.append((history["loss"], comparable_weights(translator)))
np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5)
assert max(np.abs(a - b).max() for a, b in zip(results[0][1], results[1][1])) < 2e-5
assert len(translator.generate(["where is the station?"], max_length=8)) == 1
print("OK seq2seq")
"""


def test_replicas_train_like_one_device(tmp_path):
    """Same global batch, same losses and weights: also when the replicas hold different
    numbers of real tokens (the loss is the global mean, not a mean of replica means), and
    when the last batch splits unevenly or leaves a replica without examples (no NaN); dropout
    differs between replicas; a requested XLA compile is turned off with a warning instead of
    failing; a translator (bool masks from the pipeline) trains alike and generates."""
    output = run_script(tmp_path, EQUIVALENCE)
    for check in ("equivalence", "dropout", "jit_compile", "seq2seq"):
        assert f"OK {check}" in output, output


ENTRY_POINTS = """
import os
import numpy as np
import keras
import kerasnlm as knlm

samples = knlm.data.samples
tiny = dict(sequence_length=32, num_layers=1, num_heads=2, hidden_dim=32, intermediate_dim=64,
            vocabulary=samples.vocabulary(), strategy="mirrored", verbose=0)

pretrained = knlm.training.pretrain(knlm.training.PretrainConfig(
    corpus=[samples.english_text()], output_dir="pretrain", objective="masked_lm",
    batch_size=8, steps=4, checkpoint_every=2, warmup_steps=1, **tiny))
assert pretrained.distribute_strategy.num_replicas_in_sync == 2
assert int(pretrained.optimizer.iterations.numpy()) == 4
assert os.path.exists("pretrain/backbone.keras")
print("OK pretrain")

model, results = knlm.training.finetune(knlm.training.FinetuneConfig(
    task="classification", train=samples.sst2("train"), dev=samples.sst2("dev"),
    output_dir="finetune", epochs=2, max_train_examples=96, batch_size=16, **tiny))
assert np.isfinite(results["dev"]["loss"]) and 0 <= results["dev"]["accuracy"] <= 1
assert sorted(os.listdir("finetune")) == ["best.keras", "history.csv", "results.json", "vocab.txt"]
print("OK finetune")

# BackupAndRestore: a run killed after epoch 2 of 4 and rerun ends where the whole run ends.
class Crash(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("killed")

def run(backup, crash=False):
    keras.utils.set_random_seed(0)
    with knlm.distribute.get_strategy("mirrored").scope():
        backbone = knlm.models.TransformerBackbone(
            vocabulary_size=60, sequence_length=8, num_layers=1, num_heads=2, hidden_dim=16,
            intermediate_dim=32, dropout=0.0)
        model = knlm.models.SequenceClassifier(backbone, num_classes=2, dropout=0.0)
        model.compile(learning_rate=1e-3)
    ids = np.random.default_rng(0).integers(5, 60, size=(32, 8)).astype("int32")
    data = tf.data.Dataset.from_tensor_slices(
        ({"token_ids": ids, "padding_mask": np.ones_like(ids)}, np.arange(32) % 2)).batch(8)
    callbacks = [knlm.distribute.BackupAndRestore(backup)] + ([Crash()] if crash else [])
    history = model.fit(data, epochs=4, callbacks=callbacks, verbose=0)
    return history, [w.numpy() for w in model.weights]

try:
    run("backup", crash=True)
    raise AssertionError("the crash did not happen")
except RuntimeError as error:
    assert "killed" in str(error)
assert os.path.exists("backup/training_metadata.json")
resumed_history, resumed = run("backup")
assert resumed_history.epoch == [2, 3], resumed_history.epoch  # epochs 0-1 are not repeated
assert not os.path.exists("backup")  # deleted by the chief at the end
_, whole = run("whole")
assert max(np.abs(a - b).max() for a, b in zip(resumed, whole)) < 1e-6
print("OK backup")
"""


def test_entry_points_and_backup_under_a_mirrored_strategy(tmp_path):
    """`pretrain` and `finetune` with `strategy="mirrored"`, and `BackupAndRestore` resuming a
    killed `fit` to the very weights of an uninterrupted one."""
    output = run_script(tmp_path, ENTRY_POINTS)
    for check in ("pretrain", "finetune", "backup"):
        assert f"OK {check}" in output, output


RECIPE = """
import numpy as np
import keras
import kerasnlm as knlm
from kerasnlm.training import recipes

mirrored = knlm.distribute.get_strategy("mirrored")
assert mirrored.num_replicas_in_sync == 2
with mirrored.scope():
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=60, sequence_length=8, num_layers=1, num_heads=2, hidden_dim=16,
        intermediate_dim=32)
    backbone.pretrained = True
    model = knlm.models.SequenceClassifier(backbone, num_classes=2)
    model.compile()
rng = np.random.default_rng(0)
x = {"token_ids": rng.integers(5, 60, size=(32, 8)).astype("int32"),
     "padding_mask": np.ones((32, 8), "int32")}
data = tf.data.Dataset.from_tensor_slices((x, np.arange(32) % 2)).batch(8)
model.fit(data, epochs=2, verbose=0)
schedule = recipes.current_schedule(model.optimizer)
assert (schedule.total_steps, schedule.warmup_steps, schedule.decay) == (8, 1, "linear"), schedule
assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 8
model.fit(data, epochs=1, verbose=0)  # the plan ran out: a new one from step 8
assert recipes.current_schedule(model.optimizer).start_step == 8
print("OK recipe")
"""


def test_the_fine_tuning_recipe_is_planned_under_a_mirrored_strategy(tmp_path):
    assert "OK recipe" in run_script(tmp_path, RECIPE)
