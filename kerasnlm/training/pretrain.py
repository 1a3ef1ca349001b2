"""Pretraining a backbone with a masked-LM or causal-LM objective, resumable after a crash.

Used from a notebook (`pretrain(PretrainConfig(...))`) and by `kerasnlm pretrain --config
cfg.yaml`. A run writes into `output_dir`:

    vocab.txt            the WordPiece vocabulary (trained on the corpus unless given)
    checkpoints/         every `checkpoint_every` steps: all weights, dropout seeds and
                         optimizer state; a rerun of the same command resumes from the newest
    logs/                TensorBoard logs
    backbone.keras       the pretrained backbone, for any task model
    model.keras          the whole pretraining model

Resuming repeats no step and skips none: the input pipeline is a deterministic function of the
seed, so the rerun skips the batches already trained on and continues with the very batches the
uninterrupted run would have seen.
"""

import codecs
import dataclasses
import functools
import glob
import os

import keras
import numpy as np

from kerasnlm import data
from kerasnlm import distribute
from kerasnlm.models import CausalLanguageModel
from kerasnlm.models import ElectraPretrainer
from kerasnlm.models import MaskedLanguageModel
from kerasnlm.tokenizers import WordPieceTokenizer
from kerasnlm.training.checkpoints import StepCheckpoint
from kerasnlm.training.checkpoints import restore_latest
from kerasnlm.training.config import BackboneSettings
from kerasnlm.training.config import FileConfig
from kerasnlm.training.config import RunSettings
from kerasnlm.training.config import fit_verbosity
from kerasnlm.training.schedules import WarmupDecay
from kerasnlm.utils.arguments import positive_integer

# Each objective: the pretraining model built on a new backbone, and the batches it reads.
OBJECTIVES = {
    "masked_lm": lambda backbone, tokenizer, seed: MaskedLanguageModel(backbone),
    "causal_lm": lambda backbone, tokenizer, seed: CausalLanguageModel(
        backbone, tokenizer=tokenizer),
    "electra": lambda backbone, tokenizer, seed: ElectraPretrainer(backbone, seed=seed),
}
PIPELINES = {
    "masked_lm": data.masked_lm_dataset,
    "causal_lm": data.causal_lm_dataset,
    "electra": data.masked_lm_dataset,
}


@dataclasses.dataclass
class PretrainConfig(FileConfig, BackboneSettings, RunSettings):
    """Everything a pretraining run needs; also the schema of the `--config` file.

    The model fields (`BackboneSettings`) are those of `TransformerBackbone`; the defaults are
    the benchmark backbone (4 layers, hidden 256, 4 heads, intermediate 1024, sequence 128).
    """

    corpus: list  # text files (paths or globs), one document a line
    output_dir: str
    objective: str = "masked_lm"
    validation: str = None  # a held-out text file, evaluated at every checkpoint
    vocabulary: str = None  # a vocab.txt; trained on the corpus when None
    # masked_lm and electra: fill sequences from the joined documents rather than one padded
    # line each (causal_lm always does).
    pack_documents: bool = True
    # masked_lm and electra: the fraction of pieces masked (BERT: 0.15; more predictions per
    # step pay off at small compute, Wettig et al. 2023).
    mask_rate: float = 0.15
    batch_size: int = 32
    steps: int = 10000
    checkpoint_every: int = 500
    learning_rate: float = 5e-4
    warmup_steps: int = 1000
    decay: str = "linear"
    weight_decay: float = 0.01
    validation_steps: int = 20
    seed: int = 0
    verbose: str = "auto"

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.corpus, str):
            self.corpus = [self.corpus]
        if self.objective not in OBJECTIVES:
            raise ValueError(
                f"`objective` must be one of {sorted(OBJECTIVES)}; received {self.objective!r}."
            )
        for name in ("steps", "checkpoint_every", "batch_size", "sequence_length"):
            positive_integer(name, getattr(self, name))
        if not 0 < self.mask_rate < 1:
            raise ValueError(f"`mask_rate` must be in (0, 1); received {self.mask_rate!r}.")
        if self.steps % self.checkpoint_every:
            raise ValueError(
                f"`steps` ({self.steps}) must be a multiple of `checkpoint_every` "
                f"({self.checkpoint_every}), so that every run ends on a checkpoint."
            )
        if not 0 <= self.warmup_steps < self.steps:
            raise ValueError(
                f"`warmup_steps` must be in [0, steps={self.steps}); received {self.warmup_steps}."
            )

    def corpus_files(self):
        """The corpus files, sorted; every entry must name at least one file (a typo in one of
        several would otherwise quietly train on less) and never a folder."""
        files = set()
        for pattern in self.corpus:
            matches = glob.glob(pattern)
            if not matches:
                raise FileNotFoundError(f"No file matches `corpus` entry {pattern!r}.")
            folders = [path for path in matches if os.path.isdir(path)]
            if folders:
                raise IsADirectoryError(
                    f"`corpus` entry {pattern!r} names the folder {folders[0]}; give its files, "
                    f"e.g. {os.path.join(folders[0], '*.txt')}."
                )
            files.update(matches)
        return sorted(files)

    def model_settings(self):
        """The settings a checkpoint depends on: changing any of them breaks a resume."""
        settings = dataclasses.asdict(self)
        # Where and how the steps compute may change between a run and its resume.
        for name in ("output_dir", "verbose", "validation_steps", "strategy", "precision"):
            settings.pop(name)
        return settings


def _tokenizer(config, files):
    """The run's tokenizer: the configured vocabulary, the one a resumed run started with, or
    one trained on the corpus (saved by the caller once the corpus has passed its checks)."""
    saved = os.path.join(config.output_dir, "vocab.txt")
    if config.vocabulary is not None:
        tokenizer = WordPieceTokenizer(vocabulary=config.vocabulary, lowercase=config.lowercase)
    elif os.path.exists(saved):  # a resumed run keeps the vocabulary it started with
        tokenizer = WordPieceTokenizer(vocabulary=saved, lowercase=config.lowercase)
    else:
        tokenizer = WordPieceTokenizer.train(
            files, vocabulary_size=config.vocabulary_size, lowercase=config.lowercase,
            seed=config.seed,
        )
    return tokenizer


def build_pretraining_model(config, tokenizer, precision="float32"):
    """The backbone and its pretraining model, compiled with warm-up and decay (inside the
    caller's strategy scope)."""
    backbone = config.build_backbone(tokenizer.vocabulary_size, dtype=precision)
    model = OBJECTIVES[config.objective](backbone, tokenizer, config.seed)
    model.compile(
        learning_rate=WarmupDecay(
            config.learning_rate, config.steps, config.warmup_steps, config.decay
        ),
        weight_decay=config.weight_decay,
    )
    return model


def pretrain(config):
    """Runs (or resumes) a pretraining run; returns the trained pretraining model.

    Example:
    ```python
    import kerasnlm as knlm

    config = knlm.training.PretrainConfig(
        corpus=[knlm.data.samples.english_text()], output_dir="pretrain_demo",
        vocabulary=knlm.data.samples.vocabulary(), objective="causal_lm",
        num_layers=1, hidden_dim=32, intermediate_dim=64, num_heads=2, sequence_length=32,
        batch_size=8, steps=4, checkpoint_every=2, warmup_steps=1, verbose=0)
    model = knlm.training.pretrain(config)  # rerun it: it resumes, here from step 4 (done)
    assert int(model.optimizer.iterations) == 4
    ```
    """
    strategy, precision = config.distribution()  # first: before TensorFlow runs
    files = config.corpus_files()
    readable = [("corpus", path) for path in files]
    if config.validation:
        readable.append(("validation", config.validation))
    for name, path in readable:  # the pipeline would find a bad line only when it reaches it
        _check_utf8(name, path)
    keras.utils.set_random_seed(config.seed)
    tokenizer = _tokenizer(config, files)
    # Built before anything is saved: a corpus too small for one batch is refused here, and
    # leaves no vocab.txt that a later run would resume with.
    train, validation = _datasets(config, tokenizer, files)
    os.makedirs(distribute.worker_path(config.output_dir), exist_ok=True)
    tokenizer.save_vocabulary(distribute.worker_path(os.path.join(config.output_dir, "vocab.txt")))
    with strategy.scope():
        model = build_pretraining_model(config, tokenizer, precision)

    checkpoints = os.path.join(config.output_dir, "checkpoints")
    # The corpus as resolved, with sizes: a file added or changed since the interruption would
    # feed a different stream, so skipping the trained batches would no longer be exact.
    metadata = {
        **config.model_settings(),
        "corpus_files": [[f, os.path.getsize(f)] for f in files],
    }
    done = restore_latest(model, checkpoints, metadata)
    if done < config.steps:
        _train(config, model, train, validation, done, checkpoints, metadata)
    # Also when a run was killed after its last checkpoint but before these were written.
    model.backbone.pretrained = True  # also when resumed after the last step: fine-tuning recipe
    model.backbone.save(distribute.worker_path(os.path.join(config.output_dir, "backbone.keras")))
    model.save(distribute.worker_path(os.path.join(config.output_dir, "model.keras")))
    distribute.remove_worker_files()
    return model


def _check_utf8(name, path, chunk_bytes=1 << 24):
    """Refuses a text file (of the setting `name`) with a line that is not UTF-8, naming the
    file and the line, before the run builds anything. Decoding in large chunks keeps this at
    disk speed; only a file that fails is read again line by line, to find the line."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"`{name}` {path} is a folder; give a text file.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"`{name}`: no file at {path}.")
    if not os.path.isfile(path):  # read to its end, a FIFO or a device never ends or fails
        raise ValueError(f"`{name}` {path} is not a regular file (a FIFO or a device?).")
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(chunk_bytes):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        for _ in data.readers.lines(path):  # raises, naming the line
            pass
        raise ValueError(f"{path} is not valid UTF-8. Re-encode it as UTF-8.") from None


def _datasets(config, tokenizer, files):
    """The training batches (repeated) and the validation batches (or None); an error in
    either names the setting it comes from."""
    pipeline = PIPELINES[config.objective]
    masking = {}
    if pipeline is data.masked_lm_dataset:
        pipeline = functools.partial(pipeline, pack_documents=config.pack_documents)
        # Validation keeps BERT's 15%, so its accuracy compares across training mask rates.
        masking = {"mask_rate": config.mask_rate}

    def batches(name, source, **kwargs):
        try:
            return pipeline(
                source, tokenizer, sequence_length=config.sequence_length,
                batch_size=config.batch_size, seed=config.seed, **kwargs,
            )
        except ValueError as error:
            raise type(error)(f"`{name}`: {error}") from None

    train = batches("corpus", files, **masking).repeat()
    validation = None
    if config.validation:
        # One fixed set of masks for every evaluation.
        validation = batches("validation", config.validation, shuffle=False)
        validation = validation.take(config.validation_steps).cache()
    return train, validation


def _train(config, model, train, validation, done, checkpoints, metadata):
    model.fit(
        train.skip(done),  # the batches the interrupted run already trained on
        steps_per_epoch=config.checkpoint_every,
        epochs=config.steps // config.checkpoint_every,
        initial_epoch=done // config.checkpoint_every,
        validation_data=validation,
        callbacks=[
            StepCheckpoint(distribute.worker_path(checkpoints), metadata),
            keras.callbacks.TensorBoard(
                distribute.worker_path(os.path.join(config.output_dir, "logs"))
            ),
        ],
        verbose=fit_verbosity(config.verbose),
        shuffle=False,  # the pipeline shuffles, seeded
    )


def unigram_perplexity(train_dataset, eval_dataset, vocabulary_size):
    """Perplexity of an add-one-smoothed unigram model: the baseline any LM must beat.

    Counts the labels (with their sample weights) of `train_dataset`, then scores the labels
    of `eval_dataset`, both `(x, labels, sample_weight)` datasets from `kerasnlm.data`.
    """
    counts = np.ones(vocabulary_size)
    for _, labels, weights in train_dataset:
        np.add.at(counts, np.asarray(labels).ravel(), np.asarray(weights).ravel())
    log_probability = np.log(counts / counts.sum())
    total, weight = 0.0, 0.0
    for _, labels, weights in eval_dataset:
        weights = np.asarray(weights).ravel()
        total -= float((log_probability[np.asarray(labels).ravel()] * weights).sum())
        weight += float(weights.sum())
    return float(np.exp(total / weight))
