"""Counts how kerasnlm answers hostile inputs, by the classes of issue 20.

Every case does one hostile thing (a bad token id, a blank label, a truncated file, a typo in
a path...) and states what a clear answer is: an exception of the expected type whose message
names the offending thing, a warning naming it, or (for a few) a result or exit code. Each case
runs in a worker process with a time limit, so a hang is counted, not waited on, and under a
memory limit, so an absurd size cannot take the machine down. Outcomes:

    clear    the expected exception type, and its message names the thing (or the warning or
             result expected)
    unclear  another exception type (a raw TensorFlow error, a traceback on the command line),
             or a message that does not name the thing
    silent   no error and no warning: the input was taken
    hang     no answer within the time limit

Usage (the kerasnlm on sys.path is the one measured; its path is printed):

    python scripts/hostile_inputs.py [--verbose] [--class N ...] [--only SUBSTRING]

For the code before a change: `PYTHONPATH=/path/to/old/checkout python scripts/hostile_inputs.py`.
"""

import argparse
import contextlib
import dataclasses
import io
import multiprocessing
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
import zipfile

TIMEOUT_SECONDS = 60
MEMORY_LIMIT_BYTES = 8 * 2**30  # the worker's address space: an absurd size fails, not the host

# Set in the worker only: the parent never imports TensorFlow.
knlm = keras = np = tf = None
USER_ENVIRONMENT = None  # the worker's environment before it quietened TensorFlow

# Warnings that say nothing about the input (an unclosed file, a deprecation in a library).
UNRELATED_WARNINGS = (ResourceWarning, DeprecationWarning, PendingDeprecationWarning)

# The tiny sizes every model here uses.
VOCABULARY, LENGTH, HIDDEN = 50, 8, 16
TINY_BACKBONE = dict(num_layers=1, num_heads=2, hidden_dim=HIDDEN, intermediate_dim=32)
TINY_RUN = dict(num_layers=1, num_heads=2, hidden_dim=HIDDEN, intermediate_dim=32,
                sequence_length=16, batch_size=8, steps=2, checkpoint_every=2, warmup_steps=1,
                verbose=0)


@dataclasses.dataclass
class Expect:
    """What a clear answer is: `raises` (a tuple of types) with a message matching `match`,
    a warning whose message matches `warns`, or a return value whose `str` matches `returns`."""

    raises: tuple = ()
    match: str = ""
    warns: str = None
    returns: str = None


def raises(types, match):
    return Expect(raises=types if isinstance(types, tuple) else (types,), match=match)


def warning(match):
    return Expect(warns=match)


def returns(match):
    return Expect(returns=match)


@dataclasses.dataclass
class Case:
    problem_class: int
    name: str
    run: object  # a zero-argument callable doing the hostile thing
    expect: Expect


CASES = []


def case(problem_class, name, run, expect):
    CASES.append(Case(problem_class, name, run, expect))


# ----------------------------------------------------------------------------------------------
# Helpers the cases use. Each case runs in a fresh empty working directory (see `run_case`).


def write(name, content):
    """Writes `content` (str or bytes) to `name` in the working directory; returns the path."""
    path = os.path.abspath(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def mkdir(name):
    os.makedirs(name, exist_ok=True)
    return os.path.abspath(name)


def fifo(name):
    os.mkfifo(name)
    return os.path.abspath(name)


_cache = {}


def cached(key, make):
    """One object per worker for the costly things (compiled models, a saved backbone)."""
    if key not in _cache:
        _cache[key] = make()
    return _cache[key]


class CommandLineAnswer(Exception):
    """What `kerasnlm.cli.main.main` said for a user error: exit code 2 and one line."""


class NoisyCommandLine(Exception):
    """The command line answered with something other than one line and exit code 2."""


def command_line(argv):
    """Runs the CLI in this process. One stderr line, no traceback and exit code 2 is raised as
    `CommandLineAnswer(line)`; a traceback (an escaped exception, or one printed) or several
    lines is `NoisyCommandLine`; exit code 0 returns (the input was accepted)."""
    from kerasnlm.cli.main import main

    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exit:
            code = exit.code
        except Exception as error:  # noqa: BLE001 - a traceback the user would see
            raise NoisyCommandLine(
                f"traceback: {type(error).__name__}: {first_line(str(error))}"
            ) from None
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    if code in (0, None):
        return f"exit code 0; stderr {lines[-1:]}"
    if code == 2 and len(lines) == 1 and "Traceback" not in lines[0]:
        raise CommandLineAnswer(lines[0])
    shown = "traceback; " if "Traceback" in err.getvalue() else ""
    raise NoisyCommandLine(
        f"exit code {code}, {shown}{len(lines)} stderr lines, last: {(lines or [''])[-1]}"
    )


def first_line(text):
    return (text.strip().splitlines() or [""])[0]


# ----------------------------------------------------------------------------------------------
# Class 1: bad ids and labels under XLA, whatever the input route and whoever built the model.


def id_batches(token_ids=None, labels=None, count=2):
    """`count` batches of 4 valid examples, the last with `token_ids` / `labels` instead."""
    rng = np.random.default_rng(0)
    result = []
    for i in range(count):
        ids = rng.integers(5, VOCABULARY, size=(4, LENGTH)).astype("int32")
        y = np.array([0, 1, 0, 1], "int32")
        if i == count - 1:
            ids = ids if token_ids is None else np.asarray(token_ids, "int32")
            y = y if labels is None else np.asarray(labels, "int32")
        result.append(({"token_ids": ids, "padding_mask": np.ones_like(ids)}, y))
    return result


def xla_classifier():
    """One SequenceClassifier compiled with XLA per worker (compiling costs seconds), its
    weights and optimizer state reset before each use, so that no case inherits the NaN of
    an earlier one."""

    def make():
        backbone = knlm.models.TransformerBackbone(
            vocabulary_size=VOCABULARY, sequence_length=LENGTH, **TINY_BACKBONE
        )
        model = knlm.models.SequenceClassifier(backbone, num_classes=2)
        model.compile(learning_rate=1e-3, jit_compile=True)
        model.fit(id_batches()[0][0], id_batches()[0][1], batch_size=4, verbose=0)  # builds
        return model, [keras.ops.convert_to_numpy(v) for v in state(model)]

    model, values = cached("xla_classifier", make)
    for variable, value in zip(state(model), values):
        variable.assign(value)
    return model


def state(model):
    return list(model.weights) + list(model.optimizer.variables)


def py_dataset(items):
    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return len(items)

        def __getitem__(self, index):
            return items[index]

    return Batches()


def fit_route(route, **bad):
    model = xla_classifier()
    items = id_batches(**bad)
    if route == "generator":
        data = (item for item in items)
    elif route == "PyDataset":
        data = py_dataset(items)
    elif route == "tf.data":
        data = tf.data.Dataset.from_generator(
            lambda: iter(items),
            output_signature=(
                {"token_ids": tf.TensorSpec((4, LENGTH), tf.int32),
                 "padding_mask": tf.TensorSpec((4, LENGTH), tf.int32)},
                tf.TensorSpec((4,), tf.int32),
            ),
        )
    else:  # numpy arrays
        x = {k: np.concatenate([item[0][k] for item in items]) for k in items[0][0]}
        y = np.concatenate([item[1] for item in items])
        history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
        return f"trained: loss {history.history['loss']}"
    history = model.fit(data, epochs=1, verbose=0)
    return f"trained: loss {history.history['loss']}"


def users_functional_model_fit():
    """A model assembled from the package's layers with a Keras head, compiled by the user
    with XLA; one id in one batch is the vocabulary size."""
    token_ids = keras.Input((LENGTH,), dtype="int32")
    x = knlm.layers.TokenAndPositionEmbedding(VOCABULARY, LENGTH, HIDDEN)(token_ids)
    x = knlm.layers.TransformerEncoder(num_heads=2, intermediate_dim=32)(x)
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(x))
    model = keras.Model(token_ids, outputs)
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True
    )
    ids = np.full((4, LENGTH), 7, "int32")
    ids[2, 3] = VOCABULARY

    def feed():
        for _ in range(2):
            yield ids, np.array([0, 1, 0, 1], "int32")

    callbacks = []
    stop = getattr(knlm.training, "StopOnNonFiniteLoss", None)  # absent in older versions
    if stop is not None:
        callbacks.append(stop())
    history = model.fit(feed(), epochs=1, verbose=0, callbacks=callbacks)
    return f"trained: loss {history.history['loss']}"


def add_class_1():
    bad = {
        "id = vocabulary size": (lambda: dict(token_ids=[[VOCABULARY] * LENGTH] * 4),
                                 r"`?token_ids`? .*outside \[0, 50\).*50"),
        "negative id": (lambda: dict(token_ids=[[-3] * LENGTH] * 4),
                        r"`?token_ids`? .*outside \[0, 50\).*-3"),
        "label 7 of 2 classes": (lambda: dict(labels=[0, 7, 1, 0]),
                                 r"`?labels`? .*outside \[0, 2\).*7"),
        "negative label": (lambda: dict(labels=[0, -1, 1, 0]),
                           r"`?labels`? .*outside \[0, 2\).*-1"),
    }
    for route in ("generator", "PyDataset"):
        for name, (make, message) in bad.items():
            case(1, f"SequenceClassifier XLA fit, {route}: {name}",
                 lambda route=route, make=make: fit_route(route, **make()),
                 raises(ValueError, message))
    case(1, "SequenceClassifier XLA fit, tf.data: id 10**6",
         lambda: fit_route("tf.data", token_ids=[[10**6] * LENGTH] * 4),
         raises(ValueError, r"token_ids.*50"))
    case(1, "SequenceClassifier XLA fit, numpy: label 7 of 2",
         lambda: fit_route("numpy", labels=[0, 7, 1, 0]), raises(ValueError, r"labels?.*7"))
    case(1, "user's Functional XLA model from knlm.layers: id = vocabulary size",
         users_functional_model_fit,
         raises(TrainingErrorNamed("NonFiniteLossError"), r"(?s)step \d+.*token ids"))


class _Missing(Exception):
    """Stands for a kerasnlm exception class an older version lacks."""


@dataclasses.dataclass(frozen=True)
class TrainingErrorNamed:
    """An exception type of `knlm.training` by name, looked up in the worker (the parent does
    not import kerasnlm) and standing for no type if this version lacks it."""

    name: str


# ----------------------------------------------------------------------------------------------
# Class 2: a non-finite loss stops the run.


def tiny_classifier():
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=VOCABULARY, sequence_length=LENGTH, **TINY_BACKBONE
    )
    return knlm.models.SequenceClassifier(backbone, num_classes=2)


def fit_with_learning_rate(learning_rate):
    model = tiny_classifier()
    model.compile(learning_rate=learning_rate)
    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(1, VOCABULARY, size=(16, LENGTH)),
         "padding_mask": np.ones((16, LENGTH), bool)}
    history = model.fit(x, np.arange(16) % 2, batch_size=4, epochs=20, verbose=0)
    return f"trained: last loss {history.history['loss'][-1]}"


def pretrain_settings(**settings):
    return {"corpus": [knlm.data.samples.english_text("valid")], "output_dir": "run",
            "vocabulary": knlm.data.samples.vocabulary(), "objective": "causal_lm",
            **TINY_RUN, **settings}


def pretrain(**settings):
    knlm.training.pretrain(knlm.training.PretrainConfig(**pretrain_settings(**settings)))
    return f"pretrained; run folder holds {sorted(os.listdir('run'))}"


def finetune_settings(**settings):
    return {"task": "classification", "train": knlm.data.samples.sst2("train"),
            "dev": knlm.data.samples.sst2("dev"), "output_dir": "run", "epochs": 1,
            "max_train_examples": 64, "verbose": 0, "num_layers": 1, "hidden_dim": HIDDEN,
            "intermediate_dim": 32, "num_heads": 2, "sequence_length": 16, **settings}


def finetune(**settings):
    knlm.training.finetune(knlm.training.FinetuneConfig(**finetune_settings(**settings)))
    return f"finetuned; run folder holds {sorted(os.listdir('run'))}"


def yaml_config(name, settings):
    import yaml

    return write(name, yaml.safe_dump(settings))


def add_class_2():
    step = r"(?s)step \d+.*(nan|inf)"
    case(2, "SequenceClassifier.fit learning_rate=1e9", lambda: fit_with_learning_rate(1e9),
         raises(TrainingErrorNamed("NonFiniteLossError"), step + r".*learning rate"))
    case(2, "pretrain learning_rate=1e9",
         lambda: pretrain(learning_rate=1e9, steps=12, checkpoint_every=4, batch_size=4),
         raises(TrainingErrorNamed("NonFiniteLossError"), step))
    case(2, "finetune learning_rate=1e9", lambda: finetune(learning_rate=1e9, epochs=2),
         raises(TrainingErrorNamed("NonFiniteLossError"), step))
    case(2, "CLI pretrain --set learning_rate=1e9",
         lambda: command_line(["pretrain", "--config", yaml_config("run.yaml", pretrain_settings(
             steps=12, checkpoint_every=4, batch_size=4)), "--set", "learning_rate=1e9"]),
         raises(CommandLineAnswer, r"step \d+.*(nan|inf)"))


# ----------------------------------------------------------------------------------------------
# Class 3: nothing is invented or coerced (readers, vocabularies, configs).

TSV_HEADER, CSV_HEADER = "sentence\tlabel\n", "sentence,label\n"
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def vocabulary_base():
    from kerasnlm.tokenizers import word_piece_tokenizer

    specials = getattr(word_piece_tokenizer, "SPECIAL_TOKENS", SPECIALS)
    return list(specials) + ["the", "cat", "##s", "."]


def vocabulary_file(extra, lowercase=False):
    path = write("vocab.txt", "\n".join(vocabulary_base() + extra) + "\n")
    return knlm.tokenizers.WordPieceTokenizer(path, lowercase=lowercase)


def read_settings(schema, settings, overrides=None):
    path = yaml_config("config.yaml", settings)
    getattr(knlm.training, schema).read_settings(path, **(overrides or {}))
    return "read"


def add_class_3():
    reader = {"tsv": "read_tsv", "csv": "read_csv", "jsonl": "read_jsonl", "conll": "read_conll"}

    def read(name, text, **kwargs):
        return lambda: getattr(knlm.data, reader[name.rsplit(".", 1)[1]])(write(name, text),
                                                                          **kwargs)

    blank_label, blank_text = r"line 3.*label", r"line 3.*(text|sentence)"
    for name, body, message in [
        ("blank_label.tsv", TSV_HEADER + "fine\t1\nhello\t\n", blank_label),
        ("space_label.tsv", TSV_HEADER + "fine\t1\nhello\t  \n", blank_label),
        ("blank_text.tsv", TSV_HEADER + "fine\t1\n \t0\n", blank_text),
        ("blank_label.csv", CSV_HEADER + "fine,1\nhello,\n", blank_label),
        ("quoted_blank.csv", CSV_HEADER + 'fine,1\nhello,""\n', blank_label),
        ("blank_text.csv", CSV_HEADER + "fine,1\n,0\n", blank_text),
        ("carriage_return.csv", CSV_HEADER + "fine,1\nhel\rlo,0\n", r"line 3.*carriage return"),
        ("only_blank.tsv", "\n  \n\t\n", r"blank"),
    ]:
        case(3, f"{name}", read(name, body), raises(ValueError, re.escape(name) + ".*" + message))
    for row, error, message in [
        ('{"text": "b", "label": ""}', ValueError, "label"),
        ('{"text": "  ", "label": 0}', ValueError, "text"),
        ('{"text": "b", "label": 1.0}', (TypeError, ValueError), r"1\.0"),
        ('{"text": "b", "label": 0.5}', (TypeError, ValueError), r"0\.5"),
        ('{"text": "b", "label": true}', (TypeError, ValueError), r"[Tt]rue"),
        ('{"text": "b", "label": false}', (TypeError, ValueError), r"[Ff]alse"),
        ('{"text": "b", "label": NaN}', (TypeError, ValueError), "NaN|nan"),
        ('{"text": "b", "label": [1]}', (TypeError, ValueError), r"\[1\]"),
        ('{"text": "b", "label": {"x": 1}}', (TypeError, ValueError), "label"),
        ('{"text": 5, "label": 0}', (TypeError, ValueError), "text"),
        ('{"text": "\\ud800", "label": 0}', ValueError, "surrogate"),
        ('{"text": "b", "label": ' + "1" * 5000 + "}", ValueError, "JSON"),
        ("[" * 100_000, ValueError, "JSON"),
    ]:
        label = row if len(row) < 40 else row[:30] + "..."
        case(3, f"labels.jsonl line 2 {label}",
             read("labels.jsonl", '{"text": "a", "label": 1}\n' + row + "\n"),
             raises(error, rf"labels\.jsonl.*line 2.*{message}"))
    for line in ["word\t", "word ", "word\t ", "word\t\t"]:
        columns = "\t".join(["EU"] + ["B-ORG"] * line.count("\t")) if "\t" in line else "EU B-ORG"
        case(3, f"tags.conll empty tag {line!r}", read("tags.conll", f"{columns}\n{line}\n"),
             raises(ValueError, r"tags\.conll.*line 2.*(tag|word)"))
    for kwargs, error, message in [
        (dict(tag_column=5), (ValueError, IndexError), r"tag_column"),
        (dict(token_column=-3), (ValueError, IndexError), r"token_column"),
        (dict(token_column="0"), (TypeError, ValueError), r"token_column"),
        (dict(tag_column=True), (TypeError, ValueError), r"tag_column"),
    ]:
        case(3, f"read_conll {kwargs}", read("two.conll", "EU\tB-ORG\n", **kwargs),
             raises(error, message))
    for kwargs in (dict(text_column=None), dict(label_column=0),
                   dict(text_pair_column=["s2"])):
        setting = next(iter(kwargs))
        case(3, f"read_tsv {kwargs}", read("ok.tsv", TSV_HEADER + "fine\t1\n", **kwargs),
             raises((TypeError, ValueError), setting))
    # Vocabularies holding tokens the tokenizer can never produce.
    for extra, message in [
        (["new york"], r"line 10.*'new york'.*whitespace"),
        (["tab\there"], r"line 10.*whitespace"),
        (["cat "], r"line 10.*'cat '.*whitespace"),
        (["cat"], r"'cat' twice.*line 7.*line 10"),
    ]:
        case(3, f"vocab.txt with {extra[0]!r}", lambda extra=extra: vocabulary_file(extra),
             raises(ValueError, message))
    case(3, "vocabulary list with 'two words'",
         lambda: knlm.tokenizers.WordPieceTokenizer(vocabulary_base() + ["two words"]),
         raises(ValueError, r"vocabulary\[9\].*'two words'.*whitespace"))
    case(3, "vocabulary list with '.' twice",
         lambda: knlm.tokenizers.WordPieceTokenizer(vocabulary_base() + ["."]),
         raises(ValueError, r"'\.' twice"))
    case(3, "vocab.txt 'Cat' under lowercase=True",
         lambda: vocabulary_file(["Cat"], lowercase=True),
         warning(r"uppercase.*'Cat'.*line 10"))
    case(3, "vocab.txt '##Ing', 'Dog' under lowercase=True",
         lambda: vocabulary_file(["##Ing", "Dog"], lowercase=True),
         warning(r"uppercase.*'##Ing'.*'Dog'"))
    # Config values of the wrong type, read from a file and given as overrides.
    required = {"corpus": ["corpus.txt"], "output_dir": "out"}
    for setting, value in [("steps", True), ("validation_steps", True), ("batch_size", 2.5),
                           ("warmup_steps", None), ("corpus", 5), ("corpus", ["a.txt", 5]),
                           ("learning_rate", "fast"), ("learning_rate", [0.1]),
                           ("hidden_dim", [16]), ("pack_documents", "false"), ("lowercase", 1),
                           ("output_dir", 5), ("verbose", "loud"), ("steps", "1e4")]:
        case(3, f"pretrain config `{setting}: {value!r}`",
             lambda setting=setting, value=value: read_settings(
                 "PretrainConfig", {**required, setting: value}),
             raises((TypeError, ValueError), rf"`?{setting}`?.*{re.escape(repr(value))}"))
    case(3, "pretrain --set steps=True", lambda: read_settings(
        "PretrainConfig", required, {"steps": True}),
        raises((TypeError, ValueError), r"steps.*overrides.*True"))
    for setting, value in [("epochs", True), ("max_train_examples", 2.0),
                           ("use_causal_mask", "yes"), ("epochs", 2.5)]:
        case(3, f"finetune config `{setting}: {value!r}`",
             lambda setting=setting, value=value: read_settings(
                 "FinetuneConfig", {"task": "classification", setting: value}),
             raises((TypeError, ValueError), rf"`?{setting}`?.*{re.escape(repr(value))}"))
    for setting, value in [("max_train_examples", -4990), ("max_train_examples", 0),
                           ("epochs", -1), ("epochs", True), ("batch_size", 2.5)]:
        case(3, f"FinetuneConfig({setting}={value!r})",
             lambda setting=setting, value=value: knlm.training.FinetuneConfig(
                 **finetune_settings(**{setting: value})) and "accepted",
             raises((TypeError, ValueError), rf"`?{setting}`?.*{re.escape(repr(value))}"))
    case(3, "PretrainConfig(batch_size=2.5)",
         lambda: knlm.training.PretrainConfig(**pretrain_settings(batch_size=2.5)) and "accepted",
         raises((TypeError, ValueError), r"batch_size.*2\.5"))


# ----------------------------------------------------------------------------------------------
# Class 4: paths are not text by accident; a directory or a FIFO is named as such.


def add_class_4():
    def setup():
        write("good.txt", "hello world\n")
        mkdir("corpus")
        write("shards/a.txt", "hello world\n")
        mkdir("shards/b.txt")  # a directory a glob picks up

    def in_folder(call):
        def run():
            setup()
            return call()

        return run

    def materialize(result):
        return f"accepted: {result!r}"[:200]

    text = lambda *args: materialize(knlm.data.text_dataset(*args))  # noqa: E731
    missing = (FileNotFoundError, ValueError)
    case(4, "WordPieceTokenizer.train(['corpus_typo.txt'])", in_folder(
        lambda: "trained a vocabulary of %d" % knlm.tokenizers.WordPieceTokenizer.train(
            ["corpus_typo.txt"], vocabulary_size=40).vocabulary_size),
        raises(missing, r"corpus_typo\.txt"))
    case(4, "causal_lm_dataset(['train.txt'])", in_folder(lambda: materialize(
        knlm.data.causal_lm_dataset(["train.txt"], bundled_tokenizer(), sequence_length=8,
                                    batch_size=1))),
        raises(missing, r"train\.txt"))
    for items, message in [
        (["data/corpus.txt"], r"data/corpus\.txt"),
        (["data\\corpus"], r"data\\corpus"),
        (["wiki.jsonl.gz", "books.csv"], r"wiki\.jsonl\.gz"),
        (["", "corpus_typo.txt"], r"corpus_typo\.txt"),
        (["~/corpus.tsv"], r"~/corpus\.tsv"),
        (["good.txt", "typo.txt"], r"typo\.txt"),
        ("no/such/file.txt", r"no/such/file\.txt"),
        ("shards/*.csv", r"shards/\*\.csv"),
    ]:
        case(4, f"text_dataset({items!r}) missing", in_folder(lambda items=items: text(items)),
             raises(missing, message))
    directory = (IsADirectoryError, ValueError)
    for name, call, message in [
        ("text_dataset(['corpus'])", lambda: text(["corpus"]), "'?corpus'?"),
        ("text_dataset('corpus')", lambda: text("corpus"), "'?corpus'?"),
        ("text_dataset(['good.txt', 'corpus'])", lambda: text(["good.txt", "corpus"]),
         "'?corpus'?"),
        ("text_dataset('shards/*.txt') with a directory", lambda: text("shards/*.txt"),
         r"shards/b\.txt"),
        ("read_tsv('corpus')", lambda: knlm.data.read_tsv("corpus"), "'?corpus'?"),
        ("read_conll('corpus')", lambda: knlm.data.read_conll("corpus"), "'?corpus'?"),
        ("WordPieceTokenizer('corpus')", lambda: knlm.tokenizers.WordPieceTokenizer("corpus"),
         "'?corpus'?"),
    ]:
        case(4, f"{name} (a directory)", in_folder(call),
             raises(directory, message + r".*(is a )?director"))

    def with_fifo(call):
        def run():
            fifo("pipe.txt")
            return call()

        return run

    for name, call, message in [
        ("text_dataset('pipe.txt')", lambda: text("pipe.txt"), "pipe.txt"),
        ("text_dataset(['pipe.txt'])", lambda: text(["pipe.txt"]), "pipe.txt"),
        ("read_jsonl('pipe.txt')", lambda: knlm.data.read_jsonl("pipe.txt"), "pipe.txt"),
        ("text_dataset(['/dev/null'])", lambda: text(["/dev/null"]), "/dev/null"),
    ]:
        case(4, f"{name} (a FIFO or device)", with_fifo(call),
             raises((ValueError, OSError), re.escape(message) + r".*(regular file|FIFO)"))


def bundled_tokenizer():
    return cached("tokenizer", lambda: knlm.tokenizers.WordPieceTokenizer(
        knlm.data.samples.vocabulary()))


# ----------------------------------------------------------------------------------------------
# Class 5: too little data is an error, not a success.


def add_class_5():
    small = ["one two three", "", "four five"]

    def small_corpus(**settings):
        def run():
            corpus = write("small.txt", "".join(line + "\n" for line in small))
            return pretrain(corpus=[corpus], **settings)

        return run

    fewer = r"small\.txt.*gives.*fewer than one batch"
    case(5, "pretrain causal_lm on a file smaller than a batch", small_corpus(),
         raises(ValueError, fewer))
    case(5, "pretrain masked_lm packed on a file smaller than a batch",
         small_corpus(objective="masked_lm"), raises(ValueError, fewer))
    case(5, "pretrain masked_lm lines on a file smaller than a batch",
         small_corpus(objective="masked_lm", pack_documents=False), raises(ValueError, fewer))
    case(5, "pretrain with a trained vocabulary on a file smaller than a batch",
         small_corpus(vocabulary=None, vocabulary_size=100), raises(ValueError, fewer))

    def small_validation():
        path = write("valid.txt", "one short line\n")
        return pretrain(validation=path)

    case(5, "pretrain with a validation file smaller than a batch", small_validation,
         raises(ValueError, r"validation.*valid\.txt.*fewer than one"))

    def pipeline(name):
        def run():
            corpus = write("tiny.txt", "the cat sat on the mat\n" * 3)
            dataset = getattr(knlm.data, name)(corpus, bundled_tokenizer(), sequence_length=16,
                                               batch_size=8)
            return f"{sum(1 for _ in dataset)} batches"

        return run

    case(5, "causal_lm_dataset on a 3-line file", pipeline("causal_lm_dataset"),
         raises(ValueError, r"tiny\.txt.*gives.*fewer than one batch"))
    case(5, "masked_lm_dataset on a 3-line file", pipeline("masked_lm_dataset"),
         raises(ValueError, r"tiny\.txt.*gives.*fewer than one batch"))


# ----------------------------------------------------------------------------------------------
# Class 6: corrupt artifacts name themselves; resume skips a damaged checkpoint, saying so.


def saved_backbone_bytes():
    def make():
        backbone = knlm.models.TransformerBackbone(
            vocabulary_size=VOCABULARY, sequence_length=LENGTH, num_layers=1, num_heads=2,
            hidden_dim=8, intermediate_dim=16,
        )
        path = os.path.join(tempfile.mkdtemp(), "backbone.keras")
        backbone.save(path)
        with open(path, "rb") as f:
            return f.read()

    return cached("backbone.keras", make)


def zip_members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_zip(path, contents):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    return os.path.abspath(path)


def flip_a_byte(data):
    data = bytearray(data)
    data[len(data) // 3] ^= 0xFF
    return bytes(data)


def bad_keras_file(name):
    good = saved_backbone_bytes()
    random_bytes = np.random.default_rng(0).bytes(3000)
    makers = {
        "missing.keras": lambda: os.path.abspath(name),
        "folder.keras": lambda: mkdir(name),
        "random.keras": lambda: write(name, random_bytes),
        "empty.keras": lambda: write(name, b""),
        "half.keras": lambda: write(name, good[: len(good) // 2]),
        "flipped.keras": lambda: write(name, flip_a_byte(good)),
        "hello.keras": lambda: write_zip(name, {"hello.txt": "hello"}),
        "no_weights.keras": lambda: write_zip(name, {
            k: v for k, v in zip_members(good).items() if k != "model.weights.h5"}),
        "bad_config.keras": lambda: write_zip(name, {
            **zip_members(good), "config.json": b"{not json"}),
        "bad_weights.keras": lambda: write_zip(name, {
            **zip_members(good), "model.weights.h5": b"not an HDF5 file"}),
    }
    return makers[name]()


def load_with(route, name):
    from kerasnlm.export.serving import Predictor

    path = bad_keras_file(name)
    load = {"Predictor.load_keras_model": Predictor.load_keras_model,
            "analysis.embedding_matrix": knlm.analysis.embedding_matrix}[route]
    result = load(path)
    return f"loaded {type(result).__name__}"


def checkpoint_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")],
                             name="model")
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def damaged_checkpoints(damage):
    """Steps 2 and 4 of a run, damaged by `damage(folder, newest, older)`; then a resume."""
    from kerasnlm.training.checkpoints import restore_latest
    from kerasnlm.training.checkpoints import save_checkpoint

    metadata = {"hidden_dim": 8}
    model = checkpoint_model()
    for step in (2, 4):
        model.optimizer.iterations.assign(step)
        model.get_layer("dense").kernel.assign(np.full((3, 2), float(step)))
        save_checkpoint(model, "checkpoints", metadata)
    steps = sorted(name for name in os.listdir("checkpoints") if name.endswith(".npz"))
    damage("checkpoints", os.path.join("checkpoints", steps[-1]),
           os.path.join("checkpoints", steps[0]))
    step = restore_latest(checkpoint_model(), "checkpoints", metadata)
    return f"resumed at step {step}"


def truncate(path):
    with open(path, "rb") as f:
        data = f.read()
    write(path, data[: len(data) // 2])


def pretrain_resume_past_a_truncated_checkpoint():
    pretrain(steps=4, checkpoint_every=2, batch_size=4)
    steps = sorted(name for name in os.listdir("run/checkpoints") if name.endswith(".npz"))
    truncate(os.path.join("run/checkpoints", steps[-1]))
    pretrain(steps=4, checkpoint_every=2, batch_size=4)  # the same run, resumed
    return "resumed and finished"


def add_class_6():
    messages = {
        "missing.keras": (OSError, ValueError), "folder.keras": (OSError, ValueError),
    }
    for name in ["missing.keras", "folder.keras", "random.keras", "empty.keras", "half.keras",
                 "flipped.keras", "hello.keras", "no_weights.keras", "bad_config.keras",
                 "bad_weights.keras"]:
        what = {"missing.keras": "(No model|not found|does not exist|no such)",
                "folder.keras": "(folder|director)"}.get(
            name, "(not a valid|damaged|corrupt|truncated|not a Keras|not valid JSON|cannot "
                  "load)")
        case(6, f"Predictor.load_keras_model({name})",
             lambda name=name: load_with("Predictor.load_keras_model", name),
             raises(messages.get(name, ValueError), rf"(?is)(?=.*{re.escape(name)})(?=.*{what})"))
    for name in ["random.keras", "hello.keras", "half.keras"]:
        case(6, f"analysis.embedding_matrix({name})",
             lambda name=name: load_with("analysis.embedding_matrix", name),
             raises(ValueError, rf"{re.escape(name)}.*(not a valid|not a Keras)"))

    def randomize(path):
        write(path, np.random.default_rng(0).bytes(800))

    def other_zip(path):
        write_zip(path, {"hello.txt": "hello"})

    skipped = r"skipped step-\d+\.npz"
    for name, damage, expect in [
        ("newest truncated", lambda d, new, old: truncate(new), warning(skipped + ".*truncated")),
        ("newest random bytes", lambda d, new, old: randomize(new),
         warning(skipped + ".*(truncated|corrupt)")),
        ("newest empty", lambda d, new, old: write(new, b""), warning(skipped + ".*empty")),
        ("newest byte flipped", lambda d, new, old: write(new, flip_a_byte(open(new, "rb")
                                                                          .read())),
         warning(skipped + ".*corrupt")),
        ("newest another zip", lambda d, new, old: other_zip(new),
         warning(skipped + ".*not a step checkpoint")),
        ("index bad JSON", lambda d, new, old: write(os.path.join(d, "latest.json"),
                                                      '{"step": 4, "file": '),
         warning(r"skipped latest\.json")),
        ("both truncated", lambda d, new, old: (truncate(new), truncate(old)),
         raises(ValueError, r"No checkpoint in .*checkpoints can be resumed.*step-\d+\.npz")),
    ]:
        case(6, f"restore_latest: {name}", lambda damage=damage: damaged_checkpoints(damage),
             expect)
    case(6, "pretrain resume past a truncated newest checkpoint",
         pretrain_resume_past_a_truncated_checkpoint, warning(skipped + ".*truncated"))


# ----------------------------------------------------------------------------------------------
# Class 7: the command line never shows a traceback for a user error.


def add_class_7():
    def pretrain_cli(make_config):
        return lambda: command_line(["pretrain", "--config", make_config()])

    def tiny(**settings):
        base = {**pretrain_settings(), "corpus": [knlm.data.samples.english_text("valid")],
                "output_dir": os.path.abspath("out")}
        return yaml_config("config.yaml", {**base, **settings})

    def non_utf8_corpus():
        path = write("corpus.txt", b"a good line of text\n" * 40 + b"caf\xe9 latin-1\n" +
                     b"more text\n" * 40)
        return tiny(corpus=[path])

    for name, make, message in [
        ("--config a directory", lambda: mkdir("folder"), r"folder.*director"),
        ("bad JSON", lambda: write("run.json", '{"corpus": ["a.txt"],\n "steps": 2,,\n}\n'),
         r"run\.json.*line 2.*JSON"),
        ("bad YAML", lambda: write("run.yaml", "output_dir: out\ncorpus: [a.txt\nsteps: 2\n"),
         r"run\.yaml.*line 3.*YAML"),
        ("YAML a setting twice", lambda: write(
            "run.yaml", "output_dir: out\nsteps: 2\ncorpus: [a.txt]\nsteps: 4\n"),
         r"run\.yaml.*'steps'.*twice"),
        ("JSON a setting twice", lambda: write(
            "run.json", '{"output_dir": "out", "steps": 2, "steps": 4}'),
         r"run\.json.*'steps'.*twice"),
        ("latin-1 YAML", lambda: write("run.yaml", b"output_dir: out\ncorpus: [caf\xe9.txt]\n"),
         r"run\.yaml.*line 2.*UTF-8"),
        ("config a list", lambda: write("run.yaml", "- a\n- b\n"), r"run\.yaml"),
        ("empty config", lambda: write("run.yaml", "# nothing\n"),
         r"run\.yaml.*(corpus|required)"),
        ("corpus: 5", lambda: tiny(corpus=5), r"`?corpus`?.*5"),
        ("output_dir an existing file", lambda: tiny(output_dir=write("taken", "a file")),
         r"output_dir.*taken.*file"),
        ("output_dir inside a file", lambda: tiny(
            output_dir=os.path.join(write("taken", "a file"), "run")),
         r"output_dir.*taken/run.*file"),
        ("required setting missing", lambda: write("run.yaml", "corpus: [a.txt]\n"),
         r"run\.yaml.*output_dir"),
        ("missing config file", lambda: os.path.abspath("nope.yaml"), r"nope\.yaml"),
        ("non-UTF-8 corpus line", non_utf8_corpus, r"corpus\.txt.*line 41.*UTF-8"),
    ]:
        case(7, f"CLI pretrain: {name}", pretrain_cli(make), raises(CommandLineAnswer, message))
    for argv in (["pretrain"], ["pretrain", "--config"], ["finetune", "--set", "epochs=2"]):
        case(7, f"CLI {' '.join(argv)} (missing --config)",
             lambda argv=argv: command_line(argv), raises(CommandLineAnswer, r"--config"))
    case(7, "CLI quickstart --output-dir an existing file",
         lambda: command_line(["quickstart", "--output-dir", write("taken", "a file")]),
         raises(CommandLineAnswer, r"output-dir.*taken.*file"))
    case(7, "CLI finetune: output_dir an existing file",
         lambda: command_line(["finetune", "--config", yaml_config(
             "ft.yaml", finetune_settings(output_dir=write("taken", "a file")))]),
         raises(CommandLineAnswer, r"output_dir.*taken.*file"))


# ----------------------------------------------------------------------------------------------
# Class 8: raw strings into predict / generate.


def raw_text_models():
    def make():
        tokenizer = bundled_tokenizer()
        backbone = knlm.models.TransformerBackbone(
            vocabulary_size=tokenizer.vocabulary_size, sequence_length=16, num_layers=1,
            num_heads=2, hidden_dim=HIDDEN, intermediate_dim=32, normalize_first=True)
        return {
            "SequenceClassifier": knlm.models.SequenceClassifier(
                backbone, num_classes=2, tokenizer=tokenizer, labels=["negative", "positive"]),
            "TokenClassifier": knlm.models.TokenClassifier(
                backbone, num_classes=3, tokenizer=tokenizer, tags=["O", "B-x", "I-x"]),
            "SentenceEncoder": knlm.models.SentenceEncoder(backbone, tokenizer=tokenizer),
            "CausalLanguageModel": knlm.models.CausalLanguageModel(backbone,
                                                                   tokenizer=tokenizer),
            "Seq2SeqTransformer": knlm.models.Seq2SeqTransformer(
                backbone, num_decoder_layers=1, tokenizer=tokenizer),
        }

    return cached("raw_text_models", make)


GENERATORS = ("CausalLanguageModel", "Seq2SeqTransformer")


def on_raw_text(name, texts, **kwargs):
    model = raw_text_models()[name]
    if name in GENERATORS:
        result = model.generate(texts, max_length=kwargs.pop("max_length", 8),
                                sampler="greedy", **kwargs)
    else:
        result = model.predict(texts, **kwargs)
    return f"{len(result)} results"


def add_class_8():
    for name in ("SequenceClassifier", "TokenClassifier", "SentenceEncoder",
                 "CausalLanguageModel", "Seq2SeqTransformer"):
        verb = "generate" if name in GENERATORS else "predict"
        case(8, f"{name}.{verb}([])", lambda name=name: on_raw_text(name, []),
             returns(r"^0 results$"))
        case(8, f"{name}.{verb}(['a fine film', None])",
             lambda name=name: on_raw_text(name, ["a fine film", None]),
             raises((TypeError, ValueError), r"\[1\].*None"))
    for name in ("SequenceClassifier", "CausalLanguageModel"):
        verb = "generate" if name in GENERATORS else "predict"
        # A bare str is either one text or refused with how to pass it; never 11 letters.
        case(8, f"{name}.{verb}('a fine film')", lambda name=name: on_raw_text(
            name, "a fine film"),
            Expect(raises=(TypeError, ValueError), match=r"single string.*list",
                   returns=r"^1 results$"))
        case(8, f"{name}.{verb}(['a fine film', b'caf\\xe9'])",
             lambda name=name: on_raw_text(name, ["a fine film", b"caf\xe9"]),
             raises((TypeError, ValueError), r"\[1\].*UTF-8"))
    for name in GENERATORS:
        for max_length in (0, 2.5):
            case(8, f"{name}.generate(max_length={max_length})",
                 lambda name=name, max_length=max_length: on_raw_text(
                     name, ["a fine film"], max_length=max_length),
                 raises((TypeError, ValueError), r"max_length"))


# ----------------------------------------------------------------------------------------------
# Class 9: absurd sizes are refused up front.


def add_class_9():
    memory = r"(?i)GiB|memory"
    for name, build in [
        ("TransformerBackbone(sequence_length=2**31-1)",
         lambda: knlm.models.TransformerBackbone(vocabulary_size=1000, sequence_length=2**31 - 1,
                                                 **TINY_BACKBONE)),
        ("TransformerBackbone(vocabulary_size=2**40)",
         lambda: knlm.models.TransformerBackbone(vocabulary_size=2**40, sequence_length=128,
                                                 **TINY_BACKBONE)),
        ("TransformerBackbone(intermediate_dim=2**36)",
         lambda: knlm.models.TransformerBackbone(**{
             **TINY_BACKBONE, "vocabulary_size": 1000, "sequence_length": 128,
             "intermediate_dim": 2**36})),
        ("TokenAndPositionEmbedding(10, 2**31-1, 64)",
         lambda: knlm.layers.TokenAndPositionEmbedding(10, 2**31 - 1, 64)(
             np.zeros((1, 8), "int32"))),
        ("TokenAndPositionEmbedding(2**40, 8, 64)",
         lambda: knlm.layers.TokenAndPositionEmbedding(2**40, 8, 64)(np.zeros((1, 8), "int32"))),
    ]:
        case(9, name, lambda build=build: f"built {type(build()).__name__}",
             raises(ValueError, memory))


# ----------------------------------------------------------------------------------------------
# Class 10: a quiet, quick start.


class NoisyStart(Exception):
    """`kerasnlm --help` was slow, printed to stderr or failed."""


def python_m_kerasnlm(*argv):
    started = time.monotonic()
    # The user's environment, without the log level the worker set for itself.
    result = subprocess.run([sys.executable, "-m", "kerasnlm", *argv], capture_output=True,
                            text=True, timeout=TIMEOUT_SECONDS, env=USER_ENVIRONMENT)
    seconds = time.monotonic() - started
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    summary = f"exit {result.returncode}, {len(lines)} stderr lines, {seconds:.1f} s"
    if result.returncode != 0 or lines or seconds >= 3:
        raise NoisyStart(summary + (f"; first: {lines[0]}" if lines else ""))
    return summary


def add_class_10():
    for argv in (["--help"], ["pretrain", "--help"]):
        case(10, f"python -m kerasnlm {' '.join(argv)}",
             lambda argv=argv: python_m_kerasnlm(*argv), returns(r"^exit 0, 0 stderr lines"))


for add in (add_class_1, add_class_2, add_class_3, add_class_4, add_class_5, add_class_6,
            add_class_7, add_class_8, add_class_9, add_class_10):
    add()


# ----------------------------------------------------------------------------------------------
# Running and judging the cases.


def judge(expect, result=None, error=None, caught=()):
    """`(outcome, message)` for one case's result or exception and the warnings it raised."""
    if error is not None:
        message = f"{type(error).__name__}: {first_line(str(error))}"
        types = tuple(resolve_type(t) for t in expect.raises)
        if types and isinstance(error, types) and re.search(expect.match, str(error), re.S):
            return "clear", message
        return "unclear", message
    texts = [str(w.message) for w in caught if not issubclass(w.category, UNRELATED_WARNINGS)]
    if expect.warns and any(re.search(expect.warns, text, re.S) for text in texts):
        return "clear", "warning: " + first_line(next(
            t for t in texts if re.search(expect.warns, t, re.S)))
    if expect.returns and re.search(expect.returns, str(result)):
        return "clear", f"returned: {result}"
    if expect.warns and texts:
        return "unclear", "other warning: " + first_line(texts[-1])
    return "silent", f"returned: {first_line(str(result))}"


def resolve_type(spec):
    if isinstance(spec, TrainingErrorNamed):
        return getattr(knlm.training, spec.name, _Missing)
    return spec


def run_case(index):
    """Runs CASES[index] in a fresh empty working directory; returns (outcome, message)."""
    item = CASES[index]
    with tempfile.TemporaryDirectory() as folder:
        previous = os.getcwd()
        os.chdir(folder)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    result = item.run()
                except Exception as error:  # noqa: BLE001 - every kind is counted
                    return judge(item.expect, error=error, caught=caught)
                return judge(item.expect, result=result, caught=caught)
        finally:
            os.chdir(previous)


def worker(connection):
    """The worker process: imports kerasnlm (once), then runs the cases it is sent."""
    global knlm, keras, np, tf, USER_ENVIRONMENT
    USER_ENVIRONMENT = dict(os.environ)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, resource.RLIM_INFINITY))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras as keras_module
    import numpy
    import tensorflow

    import kerasnlm

    knlm, keras, np, tf = kerasnlm, keras_module, numpy, tensorflow
    connection.send(os.path.dirname(kerasnlm.__file__))
    while True:
        index = connection.recv()
        if index is None:
            return
        try:
            outcome = run_case(index)
        except BaseException as error:  # noqa: BLE001 - the case harness itself failed
            outcome = ("unclear", f"harness: {type(error).__name__}: {first_line(str(error))}; "
                       + traceback.format_exc(limit=2).replace("\n", " ")[:200])
        connection.send(outcome)


class Worker:
    """A worker process; replaced after a hang (it is killed) or a crash."""

    def __init__(self):
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=worker, args=(child,), daemon=True)
        self.process.start()
        if not self.connection.poll(300):
            raise RuntimeError("The worker did not import kerasnlm within 300 s.")
        self.package = self.connection.recv()

    def run(self, index, timeout):
        self.connection.send(index)
        if self.connection.poll(timeout):
            try:
                return self.connection.recv()
            except EOFError:
                pass
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
            return "hang", f"no answer in {timeout} s"
        self.process.join()
        return "unclear", f"the worker died (exit code {self.process.exitcode})"

    def stop(self):
        if self.process.is_alive():
            self.connection.send(None)
            self.process.join(10)
            if self.process.is_alive():
                self.process.kill()


def cpu_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


OUTCOMES = ("clear", "unclear", "silent", "hang")


def table(results):
    lines = ["| class | cases | " + " | ".join(OUTCOMES) + " |",
             "|---|---|" + "---|" * len(OUTCOMES)]
    classes = sorted({item.problem_class for item, _ in results})
    totals = dict.fromkeys(OUTCOMES, 0)
    for problem_class in classes:
        outcomes = [outcome for item, (outcome, _) in results
                    if item.problem_class == problem_class]
        counts = {o: outcomes.count(o) for o in OUTCOMES}
        for o in OUTCOMES:
            totals[o] += counts[o]
        lines.append(f"| {problem_class} | {len(outcomes)} | "
                     + " | ".join(str(counts[o]) for o in OUTCOMES) + " |")
    lines.append(f"| total | {len(results)} | "
                 + " | ".join(f"**{totals[o]}**" for o in OUTCOMES) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verbose", action="store_true", help="print every case's outcome")
    parser.add_argument("--class", dest="classes", type=int, nargs="*",
                        help="run only these classes (1-10)")
    parser.add_argument("--only", help="run only the cases whose name holds this")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_SECONDS,
                        help="seconds a case may take before it counts as a hang")
    args = parser.parse_args()
    chosen = [i for i, item in enumerate(CASES)
              if (not args.classes or item.problem_class in args.classes)
              and (not args.only or args.only in item.name)]
    started = time.monotonic()
    current = Worker()
    print(f"CPU: {cpu_name()}")
    print(f"kerasnlm: {current.package}")
    print(f"cases: {len(chosen)} of {len(CASES)}; timeout {args.timeout:.0f} s a case\n",
          flush=True)
    results = []
    for index in chosen:
        item = CASES[index]
        case_started = time.monotonic()
        outcome, message = current.run(index, args.timeout)
        seconds = time.monotonic() - case_started
        if outcome == "hang" or not current.process.is_alive():
            current = Worker()
        results.append((item, (outcome, message)))
        if args.verbose:
            print(f"{outcome:8} [{item.problem_class}] {item.name} ({seconds:.1f} s) :: "
                  f"{message[:300]}", flush=True)
    current.stop()
    if args.verbose:
        print()
    print(table(results))
    print(f"\nrun time: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
