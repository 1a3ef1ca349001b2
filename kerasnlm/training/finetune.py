"""Fine-tuning a task model (classification, NER, translation) on files, from a notebook or
`kerasnlm finetune --config cfg.yaml`.

What differs from one task to another (its files, datasets, model, scores and the dev score
that picks the best epoch) is its `kerasnlm.training.tasks.FinetuningTask`, found by the
config's `task` in `TASKS`; this module runs any of them the same way.

The backbone is either a pretrained one (`backbone: runs/pretrain_mlm/backbone.keras`, with
the `vocab.txt` beside it, or a Hugging Face BERT folder such as a sentence-transformers model,
whose tokenizer comes with it) or a new one of the configured size. A run writes into
`output_dir`:

    vocab.txt, target_vocab.txt   the vocabularies used (trained on the training file if new)
    best.keras                    the model at its best dev score (kept by ModelCheckpoint)
    history.csv                   per-epoch training and dev metrics
    results.json                  the best model's dev (and test) scores
"""

import csv
import dataclasses
import json
import math
import os

import keras

from kerasnlm import distribute
from kerasnlm.models import TransformerBackbone
from kerasnlm.models.files import load_keras_file
from kerasnlm.tokenizers import WordPieceTokenizer
from kerasnlm.training import recipes
from kerasnlm.training.config import BackboneSettings
from kerasnlm.training.config import FileConfig
from kerasnlm.training.config import RunSettings
from kerasnlm.training.config import fit_verbosity
from kerasnlm.training.optimizers import LayerwiseDecayAdamW
from kerasnlm.training.tasks import READING
from kerasnlm.training.tasks import TASKS
from kerasnlm.training.tasks import Encoders
from kerasnlm.training.tasks import ReadingSettings
from kerasnlm.training.tasks import task_of
from kerasnlm.utils.arguments import one_of
from kerasnlm.utils.arguments import positive_integer
from kerasnlm.utils.arguments import rate


@dataclasses.dataclass
class FinetuneConfig(FileConfig, BackboneSettings, RunSettings):
    """Everything a fine-tuning run needs; also the schema of the `--config` file.

    `task` names a kind registered in `kerasnlm.training.tasks.TASKS`. Data formats:
    `classification`: TSV with a header (`text_column`, `label_column`, and
    `text_pair_column` for pairs); `token_classification`: CoNLL (token and tag columns);
    `seq2seq`: `source<TAB>target` lines. The model fields (`BackboneSettings`) size a new
    backbone; with `backbone` (a saved, e.g. pretrained, one) only `sequence_length` and
    `dropout` (of the head) apply.
    """

    task: str
    train: str
    dev: str
    output_dir: str
    test: str = None
    # a saved backbone (.keras), e.g. a pretraining run's, or a Hugging Face BERT folder; else new
    backbone: str = None
    # default with `backbone`: the vocab.txt beside it; a folder's tokenizer (with its own
    # casing: `lowercase` does not apply) cannot be replaced
    vocabulary: str = None
    # --- the task head ---
    pooling: str = "cls"
    use_causal_mask: bool = False  # classification: keep a causal-LM backbone's attention
    text_column: str = "sentence"
    label_column: str = "label"
    text_pair_column: str = None
    target_vocabulary: str = None  # seq2seq: trained on the training targets when None
    target_vocabulary_size: int = 8000
    target_lowercase: bool = True
    target_sequence_length: int = None
    num_decoder_layers: int = None
    # --- training ---
    epochs: int = 3
    batch_size: int = 32
    # Left out (None), these four come from the recipe that fits the backbone
    # (`kerasnlm.training.recipes`): 1e-4, 10% warm-up, linear decay for pretrained weights;
    # a constant 5e-4 for a new backbone; weight decay 0.01.
    learning_rate: float = None
    warmup_ratio: float = None
    decay: str = None
    weight_decay: float = None
    layer_decay: float = None  # layer-wise learning-rate decay factor, e.g. 0.8
    # e.g. 0.999: evaluate and keep a moving average of the weights (Polyak averaging)
    ema_momentum: float = None
    freeze_embeddings: bool = False
    freeze_layers: int = 0  # the lowest k encoder blocks
    pad_to_multiple_of: int = 16
    # Classification and seq2seq: training batches of examples of similar length, so short
    # ones are not padded to long ones (2.2x fewer padded pieces on SST-2 at a multiple of 16).
    bucket_by_length: bool = False
    max_train_examples: int = None
    bleu_examples: int = 1000  # seq2seq: dev/test pairs translated for BLEU at the end
    beam_bleu: bool = False  # seq2seq: BLEU of beam search (5 beams) too, beside greedy's
    seed: int = 0
    verbose: str = "auto"

    def __post_init__(self):
        super().__post_init__()
        one_of("task", self.task, tuple(TASKS))
        for name in ("train", "dev") + (("test",) if self.test else ()):
            path = getattr(self, name)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"`{name}`: no file at {path}.")
        if self.backbone is not None and not os.path.exists(self.backbone):
            raise FileNotFoundError(f"`backbone`: no file or folder at {self.backbone}.")
        if self.backbone is not None and os.path.isdir(self.backbone) and self.vocabulary:
            raise ValueError(
                f"`vocabulary` with a Hugging Face folder as `backbone`: the folder's own "
                f"tokenizer ({self.backbone}) is used, with its casing and settings."
            )
        positive_integer("epochs", self.epochs)
        if self.bucket_by_length and not TASKS[self.task].buckets_by_length:
            takes = sorted(name for name, task in TASKS.items() if task.buckets_by_length)
            raise ValueError(
                f"`bucket_by_length` is for `task` {' or '.join(takes)}; received task "
                f"{self.task!r}."
            )
        if self.bucket_by_length and self.pad_to_multiple_of is None:
            raise ValueError("`bucket_by_length: true` needs `pad_to_multiple_of` (an int).")
        if self.max_train_examples is not None:
            positive_integer("max_train_examples", self.max_train_examples)
        self.reading()  # checks `batch_size` and `sequence_length`
        if self.warmup_ratio is not None:
            rate("warmup_ratio", self.warmup_ratio)
        if self.ema_momentum is not None:
            rate("ema_momentum", self.ema_momentum)

    def reading(self):
        """The `ReadingSettings` of this run: how its files are read and batched."""
        return ReadingSettings(**{name: getattr(self, name) for name in READING})


def _output(config, name):
    """Where this worker writes `name` of the output directory (see `distribute.worker_path`)."""
    return distribute.worker_path(os.path.join(config.output_dir, name))


def _tokenizer(config, texts):
    """The tokenizer of the inputs: the pretrained backbone's, the configured vocabulary's,
    or one trained on `texts`; saved as vocab.txt."""
    os.makedirs(_output(config, ""), exist_ok=True)
    vocabulary = config.vocabulary
    if vocabulary is None and config.backbone is not None and os.path.isdir(config.backbone):
        tokenizer = WordPieceTokenizer.from_pretrained(config.backbone)
    elif vocabulary is None and config.backbone is not None:
        vocabulary = os.path.join(os.path.dirname(config.backbone), "vocab.txt")
        if not os.path.isfile(vocabulary):
            raise FileNotFoundError(
                f"A pretrained `backbone` needs its vocabulary: none given and no vocab.txt "
                f"beside {config.backbone}; set `vocabulary`."
            )
    if vocabulary is not None:
        tokenizer = WordPieceTokenizer(vocabulary=vocabulary, lowercase=config.lowercase)
    elif config.backbone is None:
        tokenizer = WordPieceTokenizer.train(
            texts, vocabulary_size=config.vocabulary_size, lowercase=config.lowercase,
            seed=config.seed,
        )
    tokenizer.save_vocabulary(_output(config, "vocab.txt"))
    return tokenizer


def _backbone(config, tokenizer, precision):
    if config.backbone is None:
        return config.build_backbone(tokenizer.vocabulary_size, dtype=precision)
    if os.path.isdir(config.backbone):
        backbone = TransformerBackbone.from_pretrained(config.backbone, dtype=precision)
    else:
        backbone = load_keras_file(config.backbone)
    if not isinstance(backbone, TransformerBackbone):
        raise TypeError(f"{config.backbone} holds a {type(backbone).__name__}, not a backbone.")
    if backbone.dtype_policy.name != precision:  # the same weights, computed at this precision
        weights = backbone.get_weights()
        backbone = TransformerBackbone.from_config({**backbone.get_config(), "dtype": precision})
        backbone.set_weights(weights)
    if config.sequence_length > backbone.sequence_length:
        raise ValueError(
            f"`sequence_length` ({config.sequence_length}) exceeds the pretrained backbone's "
            f"({backbone.sequence_length})."
        )
    return backbone


def _freeze(config, backbone):
    if config.freeze_embeddings:
        backbone.embedding.trainable = False
    if not 0 <= config.freeze_layers <= backbone.num_layers:
        raise ValueError(
            f"`freeze_layers` must be in [0, {backbone.num_layers}]; "
            f"received {config.freeze_layers}."
        )
    for block in backbone.encoder_layers[: config.freeze_layers]:
        block.trainable = False


def compile_with_recipe(model, total_steps, learning_rate=None, warmup_ratio=None, decay=None,
                        weight_decay=None, layer_decay=None, ema_momentum=None, verbose=True):
    """Compiles a task model with the recipe that fits its backbone over a run of
    `total_steps` (`kerasnlm.training.recipes`), as `finetune` does.

    Args:
        model: a `kerasnlm.models.Task`.
        total_steps: int, the training steps the schedule spans.
        learning_rate, warmup_ratio, decay, weight_decay: replace the recipe's values
            (None keeps the recipe's).
        layer_decay: float, a layer-wise learning-rate decay factor (`LayerwiseDecayAdamW`);
            None for one rate throughout.
        ema_momentum: float in (0, 1): the optimizer also keeps an exponential moving average
            of the weights (`use_ema`), which `fit` leaves in the model at its end; None for
            none. With either, the optimizer is a `LayerwiseDecayAdamW` (one rate throughout
            when `layer_decay` is None).
        verbose: print which recipe and schedule the run uses.

    Example:
    ```python
    import kerasnlm as knlm

    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=1000, sequence_length=32, num_layers=1, num_heads=2, hidden_dim=32,
        intermediate_dim=64)
    classifier = knlm.models.SequenceClassifier(backbone, num_classes=2)
    knlm.training.compile_with_recipe(classifier, total_steps=100, learning_rate=1e-3)
    # prints: kerasnlm: from-scratch recipe (new backbone): AdamW, constant learning rate ...
    ```
    """
    recipe = recipes.recipe_for(model.backbone).replace(
        learning_rate=learning_rate, warmup_ratio=warmup_ratio, decay=decay,
        weight_decay=weight_decay,
    )
    schedule = recipe.schedule(total_steps)
    if verbose:
        extras = {"layer-wise decay": layer_decay, "weights averaged, momentum": ema_momentum}
        print(recipes.describe(recipe, schedule) + "".join(
            f" With {name} {value:g}." for name, value in extras.items() if value is not None
        ))
    if layer_decay is None and ema_momentum is None:
        model.compile(learning_rate=schedule, weight_decay=recipe.weight_decay)
        return
    averaging = {} if ema_momentum is None else {"use_ema": True, "ema_momentum": ema_momentum}
    model.compile(
        optimizer=LayerwiseDecayAdamW(
            schedule, num_layers=model.backbone.num_layers, layer_decay=layer_decay or 1.0,
            weight_decay=recipe.weight_decay, **averaging,
        )
    )


def _best_logged(history, monitor, mode):
    """The best `monitor` value in a CSVLogger file (None when there is none)."""
    if not os.path.exists(history):
        return None
    with open(history) as f:
        values = [float(row[monitor]) for row in csv.DictReader(f) if row.get(monitor)]
    if not values:
        return None
    return max(values) if mode == "max" else min(values)


def evaluate_file(model, path, **settings):
    """A saved task model's scores on one file of its task's format (`kerasnlm evaluate`).

    Args:
        model: a model of a registered task (`TASKS`: a `SequenceClassifier`,
            `TokenClassifier` or `Seq2SeqTransformer`) holding its tokenizer (and its class or
            tag names), as `finetune` saves them.
        path: a TSV, CoNLL or `source<TAB>target` file, as `finetune` reads.
        **settings: the `FinetuneConfig` settings that say how to read and batch the file
            (`READING`: `text_column`, `label_column`, `batch_size`, `sequence_length`, ...);
            `sequence_length` defaults to the backbone's, the others to `FinetuneConfig`'s.

    Returns:
        The scores `finetune` reports for a split: loss and accuracy; plus entity precision,
        recall and F1; or BLEU.
    """
    task = task_of(model)
    if task is None:
        raise TypeError(
            f"`model` must be one of {[task.model_class.__name__ for task in TASKS.values()]}; "
            f"received a {type(model).__name__}."
        )
    unknown = sorted(set(settings) - set(READING))
    if unknown:
        raise ValueError(f"Unknown settings for evaluation: {unknown} (known: {list(READING)}).")
    if model.tokenizer is None:
        raise ValueError(f"The {type(model).__name__} holds no tokenizer to read {path} with.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"`path`: no file at {path}.")
    defaults = {field.name: field.default for field in dataclasses.fields(FinetuneConfig)}
    reading = ReadingSettings(**{
        **{name: defaults[name] for name in READING},
        "sequence_length": model.backbone.sequence_length,
        **{name: value for name, value in settings.items() if value is not None},
    })
    encoders = task.encoders_of(model)
    inputs, targets = task.read(path, reading)
    task.check_names(encoders.names, targets, path)
    return task.evaluate(model, inputs, targets, encoders, reading)


def _read_files(config, task, reading):
    """The training examples (the first `max_train_examples`), the names of their targets,
    and the examples of each evaluation split, checked against those names."""
    train = task.read(config.train, reading)
    if config.max_train_examples:
        train = task.first(*train, config.max_train_examples)
    names = task.names(train[1])
    splits = {"dev": config.dev, **({"test": config.test} if config.test else {})}
    evaluation = {}
    for split, path in splits.items():
        evaluation[split] = task.read(path, reading)
        task.check_names(names, evaluation[split][1], path)
    return train, names, evaluation


def _fit(config, task, model, train_batches, dev, encoders, reading):
    """Trains `model` on `train_batches`, keeping its best dev epoch in best.keras and the
    history in history.csv; returns the path of best.keras."""
    dev_batches = task.dataset(*dev, encoders, reading)
    monitor, mode = task.monitor
    best_path = _output(config, "best.keras")
    # A rerun after an interruption resumes from the last epoch backed up, keeps the history
    # logged so far and replaces best.keras only with a better model.
    backup = os.path.join(config.output_dir, "backup")
    resuming = os.path.exists(os.path.join(backup, "training_metadata.json"))
    history = os.path.join(config.output_dir, "history.csv")
    # With `ema_momentum`, the average is in the model from each epoch's end (validation
    # included) to the next epoch's start: what is evaluated and checkpointed is the average.
    averaging = [] if config.ema_momentum is None else [keras.callbacks.SwapEMAWeights(True)]
    callbacks = [
        distribute.BackupAndRestore(backup),  # first: it backs up the trained weights
        *averaging,
        *task.callbacks(*dev),  # before the checkpoint that reads what they log
        keras.callbacks.ModelCheckpoint(
            best_path, monitor=monitor, mode=mode, save_best_only=True,
            initial_value_threshold=_best_logged(history, monitor, mode) if resuming else None,
        ),
        keras.callbacks.CSVLogger(distribute.worker_path(history), append=resuming),
    ]
    model.fit(
        train_batches, validation_data=dev_batches, epochs=config.epochs, callbacks=callbacks,
        verbose=fit_verbosity(config.verbose), shuffle=False,  # the pipeline shuffles, seeded
    )
    return best_path


def finetune(config):
    """Fine-tunes a task model; returns `(best_model, results)`.

    Example:
    ```python
    import kerasnlm as knlm

    samples = knlm.data.samples
    config = knlm.training.FinetuneConfig(
        task="classification", train=samples.sst2("train"), dev=samples.sst2("dev"),
        output_dir="finetune_demo", vocabulary=samples.vocabulary(), sequence_length=32,
        num_layers=1, num_heads=2, hidden_dim=32, intermediate_dim=64, epochs=1,
        max_train_examples=256, verbose=0)
    model, results = knlm.training.finetune(config)
    results["dev"]["accuracy"]  # of the best epoch's model, also in finetune_demo/results.json
    ```
    """
    strategy, precision = config.distribution()  # first: before TensorFlow runs
    keras.utils.set_random_seed(config.seed)
    task, reading = TASKS[config.task], config.reading()
    train, names, evaluation = _read_files(config, task, reading)
    tokenizer = _tokenizer(config, task.vocabulary_texts(train[0]))
    target_tokenizer = task.target_tokenizer(config, train[1])
    if target_tokenizer is not None:
        target_tokenizer.save_vocabulary(_output(config, "target_vocab.txt"))
    encoders = Encoders(tokenizer, target_tokenizer, names)
    train_batches = task.dataset(*train, encoders, reading, shuffle=True, seed=config.seed)
    steps_per_epoch = int(train_batches.cardinality())
    if steps_per_epoch < 0:  # unknown: full batches and one smaller last one
        steps_per_epoch = math.ceil(len(train[1]) / config.batch_size)
    with strategy.scope():
        backbone = _backbone(config, tokenizer, precision)
        model = task.build_model(backbone, encoders, **task.model_settings(config))
        _freeze(config, backbone)
        compile_with_recipe(
            model, config.epochs * steps_per_epoch,
            learning_rate=config.learning_rate, warmup_ratio=config.warmup_ratio,
            decay=config.decay, weight_decay=config.weight_decay,
            layer_decay=config.layer_decay, ema_momentum=config.ema_momentum,
            verbose=config.verbose != 0,
        )
    best_path = _fit(config, task, model, train_batches, evaluation["dev"], encoders, reading)

    with strategy.scope():
        best = load_keras_file(best_path)
    results = {
        split: task.evaluate(best, *examples, encoders, reading)
        for split, examples in evaluation.items()
    }
    results["config"] = dataclasses.asdict(config)
    results["train_examples"] = len(train[1])
    with open(_output(config, "results.json"), "w") as f:
        json.dump(results, f, indent=2, default=str)
    distribute.remove_worker_files()
    return best, results
