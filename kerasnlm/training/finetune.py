"""Fine-tuning a task model (classification, NER, translation) on files, from a notebook or
`kerasnlm finetune --config cfg.yaml`.

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

from kerasnlm import data
from kerasnlm import distribute
from kerasnlm.models import EntityF1
from kerasnlm.models import Seq2SeqTransformer
from kerasnlm.models import SequenceClassifier
from kerasnlm.models import TokenClassifier
from kerasnlm.models import TransformerBackbone
from kerasnlm.tokenizers import WordPieceTokenizer
from kerasnlm.training import recipes
from kerasnlm.training.config import BackboneSettings
from kerasnlm.training.config import FileConfig
from kerasnlm.training.config import RunSettings
from kerasnlm.training.config import fit_verbosity
from kerasnlm.training.optimizers import LayerwiseDecayAdamW

# The task model each task trains.
TASK_MODELS = {
    "classification": SequenceClassifier,
    "token_classification": TokenClassifier,
    "seq2seq": Seq2SeqTransformer,
}
TASKS = tuple(TASK_MODELS)
# What "best" means for each task: the dev score ModelCheckpoint keeps the best of.
MONITORS = {
    "classification": ("val_accuracy", "max"),
    "token_classification": ("val_entity_f1", "max"),
    "seq2seq": ("val_loss", "min"),
}


@dataclasses.dataclass
class FinetuneConfig(FileConfig, BackboneSettings, RunSettings):
    """Everything a fine-tuning run needs; also the schema of the `--config` file.

    Data formats: `classification`: TSV with a header (`text_column`, `label_column`, and
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
    freeze_embeddings: bool = False
    freeze_layers: int = 0  # the lowest k encoder blocks
    pad_to_multiple_of: int = 16
    max_train_examples: int = None
    bleu_examples: int = 1000  # seq2seq: dev/test pairs translated for BLEU at the end
    seed: int = 0
    verbose: str = "auto"

    def __post_init__(self):
        super().__post_init__()
        if self.task not in TASKS:
            raise ValueError(f"`task` must be one of {TASKS}; received {self.task!r}.")
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
        for name in ("epochs", "batch_size", "sequence_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer; received {value!r}.")
        if self.warmup_ratio is not None and not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"`warmup_ratio` must be in [0, 1); received {self.warmup_ratio!r}.")


def read_task_data(config, path):
    """`(inputs, targets)` of one file: texts (or text pairs) and labels, sentences of words
    and tags, or sources and targets."""
    if config.task == "classification":
        columns = data.read_tsv(
            path, text_column=config.text_column, label_column=config.label_column,
            text_pair_column=config.text_pair_column,
        )
        return columns[:-1], columns[-1]
    if config.task == "token_classification":
        return data.read_conll(path)
    return data.read_parallel(path)


def _names(config, train_targets):
    """Class or tag names, from the training file; class labels as strings (a file of only
    integer labels reads as ints, a file with one word among them as strs), in numeric order
    when they are numbers."""
    if config.task == "classification":
        names = {str(label) for label in train_targets}
        return sorted(
            names, key=lambda v: (0, int(v), "") if v.lstrip("-").isdigit() else (1, 0, v)
        )
    return sorted({tag for sentence in train_targets for tag in sentence})


def _check_names(config, names, targets, path):
    if config.task == "classification":
        seen = {str(label) for label in targets}
    else:
        seen = {tag for sentence in targets for tag in sentence}
    unknown = sorted(seen - set(names), key=str)
    if unknown:
        kind = "labels" if config.task == "classification" else "tags"
        raise ValueError(
            f"{path} has {kind} the training file does not: {unknown[:10]} (known: {names})."
        )


def _output(config, name):
    """Where this worker writes `name` of the output directory (see `distribute.worker_path`)."""
    return distribute.worker_path(os.path.join(config.output_dir, name))


def _tokenizers(config, train_inputs, train_targets):
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
        if config.task == "classification":
            texts = [t for column in train_inputs for t in column]
        elif config.task == "token_classification":
            texts = [" ".join(words) for words in train_inputs]
        else:
            texts = list(train_inputs)
        tokenizer = WordPieceTokenizer.train(
            texts, vocabulary_size=config.vocabulary_size, lowercase=config.lowercase,
            seed=config.seed,
        )
    tokenizer.save_vocabulary(_output(config, "vocab.txt"))
    if config.task != "seq2seq":
        return tokenizer, None
    if config.target_vocabulary is not None:
        target = WordPieceTokenizer(
            vocabulary=config.target_vocabulary, lowercase=config.target_lowercase
        )
    else:
        target = WordPieceTokenizer.train(
            list(train_targets), vocabulary_size=config.target_vocabulary_size,
            lowercase=config.target_lowercase, seed=config.seed,
        )
    target.save_vocabulary(_output(config, "target_vocab.txt"))
    return tokenizer, target


def _backbone(config, tokenizer, precision):
    if config.backbone is None:
        return config.build_backbone(tokenizer.vocabulary_size, dtype=precision)
    if os.path.isdir(config.backbone):
        backbone = TransformerBackbone.from_pretrained(config.backbone, dtype=precision)
    else:
        backbone = keras.models.load_model(config.backbone)
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


def build_task_model(config, backbone, tokenizer, target_tokenizer, names):
    if config.task == "classification":
        return SequenceClassifier(
            backbone, len(names), pooling=config.pooling, dropout=config.dropout,
            use_causal_mask=config.use_causal_mask, tokenizer=tokenizer, labels=names,
        )
    if config.task == "token_classification":
        return TokenClassifier(
            backbone, len(names), dropout=config.dropout, tokenizer=tokenizer, tags=names
        )
    return Seq2SeqTransformer(
        backbone, num_decoder_layers=config.num_decoder_layers, tokenizer=tokenizer,
        target_tokenizer=target_tokenizer,
        target_sequence_length=config.target_sequence_length or config.sequence_length,
    )


def _dataset(config, inputs, targets, tokenizer, target_tokenizer, names, shuffle):
    common = dict(
        batch_size=config.batch_size, pad_to_multiple_of=config.pad_to_multiple_of,
        shuffle=shuffle, seed=config.seed,
    )
    if config.task == "classification":
        ids = [names.index(str(label)) for label in targets]
        return data.classification_dataset(
            inputs[0], ids, tokenizer, sequence_length=config.sequence_length,
            text_pairs=inputs[1] if len(inputs) > 1 else None, num_classes=len(names), **common,
        )
    if config.task == "token_classification":
        return data.token_classification_dataset(
            inputs, targets, tokenizer, names, sequence_length=config.sequence_length, **common
        )
    return data.seq2seq_dataset(
        inputs, targets, tokenizer, sequence_length=config.sequence_length,
        target_sequence_length=config.target_sequence_length or config.sequence_length,
        target_tokenizer=target_tokenizer, **common,
    )


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


def _compile(config, model, train_size):
    """Compiles with the recipe that fits the backbone, the config's settings replacing its
    values, over the run's steps."""
    steps = config.epochs * math.ceil(train_size / config.batch_size)
    recipe = recipes.recipe_for(model.backbone).replace(
        learning_rate=config.learning_rate, warmup_ratio=config.warmup_ratio,
        decay=config.decay, weight_decay=config.weight_decay,
    )
    schedule = recipe.schedule(steps)
    if config.verbose != 0:
        print(recipes.describe(recipe, schedule))
    if config.layer_decay is None:
        model.compile(learning_rate=schedule, weight_decay=recipe.weight_decay)
    else:
        model.compile(
            optimizer=LayerwiseDecayAdamW(
                schedule, num_layers=model.backbone.num_layers, layer_decay=config.layer_decay,
                weight_decay=recipe.weight_decay,
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


def evaluate_task(config, model, inputs, targets, tokenizer, target_tokenizer, names):
    """The task's scores on one file: accuracy, entity P/R/F1, or BLEU (plus the loss)."""
    dataset = _dataset(config, inputs, targets, tokenizer, target_tokenizer, names, False)
    scores = model.evaluate(dataset, verbose=0, return_dict=True)
    scores = {key: float(value) for key, value in scores.items()}
    if config.task == "token_classification":
        entities = model.evaluate_entities(inputs, targets)
        scores.update({f"entity_{k}": float(entities[k]) for k in ("precision", "recall", "f1")})
    elif config.task == "seq2seq":
        n = config.bleu_examples
        bleu = model.evaluate_bleu(list(inputs[:n]), list(targets[:n]), sampler="greedy")
        scores.update({"bleu": bleu["bleu"], "bleu_examples": len(inputs[:n]),
                       "bleu_signature": bleu["signature"]})
    return scores


# The settings that say how a task file is read and batched (the rest size and train a model).
READING = ("text_column", "label_column", "text_pair_column", "batch_size", "pad_to_multiple_of",
           "sequence_length", "target_sequence_length", "bleu_examples")


def evaluate_file(model, path, **settings):
    """A saved task model's scores on one file of its task's format (`kerasnlm evaluate`).

    Args:
        model: a `SequenceClassifier`, `TokenClassifier` or `Seq2SeqTransformer` holding its
            tokenizer (and its class or tag names), as `finetune` saves them.
        path: a TSV, CoNLL or `source<TAB>target` file, as `finetune` reads.
        **settings: the `FinetuneConfig` settings that say how to read and batch the file
            (`READING`: `text_column`, `label_column`, `batch_size`, `sequence_length`, ...);
            `sequence_length` defaults to the backbone's.

    Returns:
        The scores `finetune` reports for a split: loss and accuracy; plus entity precision,
        recall and F1; or BLEU.
    """
    task = next((name for name, cls in TASK_MODELS.items() if isinstance(model, cls)), None)
    if task is None:
        raise TypeError(
            f"`model` must be one of {[cls.__name__ for cls in TASK_MODELS.values()]}; "
            f"received a {type(model).__name__}."
        )
    unknown = sorted(set(settings) - set(READING))
    if unknown:
        raise ValueError(f"Unknown settings for evaluation: {unknown} (known: {list(READING)}).")
    if model.tokenizer is None:
        raise ValueError(f"The {type(model).__name__} holds no tokenizer to read {path} with.")
    settings = {key: value for key, value in settings.items() if value is not None}
    settings.setdefault("sequence_length", model.backbone.sequence_length)
    config = FinetuneConfig(task=task, train=path, dev=path, output_dir=os.path.dirname(path),
                            verbose=0, **settings)
    if task == "classification":
        names = model.labels or [str(i) for i in range(model.num_classes)]
    elif task == "token_classification":
        if model.tags is None:
            raise ValueError("The TokenClassifier holds no tag names to read CoNLL tags with.")
        names = model.tags
    else:
        names = None
    inputs, targets = read_task_data(config, path)
    if names is not None:
        _check_names(config, names, targets, path)
    target_tokenizer = getattr(model, "target_tokenizer", None)
    return evaluate_task(config, model, inputs, targets, model.tokenizer, target_tokenizer, names)


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
    train_inputs, train_targets = read_task_data(config, config.train)
    if config.max_train_examples:
        if config.task == "classification":
            train_inputs = [column[: config.max_train_examples] for column in train_inputs]
        else:
            train_inputs = train_inputs[: config.max_train_examples]
        train_targets = train_targets[: config.max_train_examples]
    names = _names(config, train_targets) if config.task != "seq2seq" else None
    splits = {"dev": config.dev, **({"test": config.test} if config.test else {})}
    evaluation = {}
    for split, path in splits.items():
        evaluation[split] = read_task_data(config, path)
        if names is not None:
            _check_names(config, names, evaluation[split][1], path)

    tokenizer, target_tokenizer = _tokenizers(config, train_inputs, train_targets)
    with strategy.scope():
        backbone = _backbone(config, tokenizer, precision)
        model = build_task_model(config, backbone, tokenizer, target_tokenizer, names)
        _freeze(config, backbone)
        _compile(config, model, len(train_targets))

    train = _dataset(config, train_inputs, train_targets, tokenizer, target_tokenizer, names, True)
    dev = _dataset(config, *evaluation["dev"], tokenizer, target_tokenizer, names, False)
    monitor, mode = MONITORS[config.task]
    best_path = _output(config, "best.keras")
    # A rerun after an interruption resumes from the last epoch backed up, keeps the history
    # logged so far and replaces best.keras only with a better model.
    backup = os.path.join(config.output_dir, "backup")
    resuming = os.path.exists(os.path.join(backup, "training_metadata.json"))
    history = os.path.join(config.output_dir, "history.csv")
    callbacks = [distribute.BackupAndRestore(backup)]
    if config.task == "token_classification":
        callbacks.append(EntityF1(*evaluation["dev"]))  # before the checkpoint that reads it
    callbacks += [
        keras.callbacks.ModelCheckpoint(
            best_path, monitor=monitor, mode=mode, save_best_only=True,
            initial_value_threshold=_best_logged(history, monitor, mode) if resuming else None,
        ),
        keras.callbacks.CSVLogger(distribute.worker_path(history), append=resuming),
    ]
    model.fit(
        train, validation_data=dev, epochs=config.epochs, callbacks=callbacks,
        verbose=fit_verbosity(config.verbose), shuffle=False,  # the pipeline shuffles, seeded
    )

    with strategy.scope():
        best = keras.models.load_model(best_path)
    results = {
        split: evaluate_task(config, best, *evaluation[split], tokenizer, target_tokenizer, names)
        for split in splits
    }
    results["config"] = dataclasses.asdict(config)
    results["train_examples"] = len(train_targets)
    with open(_output(config, "results.json"), "w") as f:
        json.dump(results, f, indent=2, default=str)
    distribute.remove_worker_files()
    return best, results
