"""The kinds of task `finetune` trains, one class each, registered by name in `TASKS`.

A kind holds everything that differs from one task to another: how its files read, which
names its targets take (class labels, tags), how its examples batch, which model it builds on
a backbone, how a split is scored and which dev score picks the best epoch. `FinetuneConfig`,
`finetune`, `evaluate_file` and `kerasnlm evaluate` look the kind up in `TASKS`, so a new task
is one new `FinetuningTask` subclass decorated with `@register_task`.
"""

import dataclasses

from kerasnlm import data
from kerasnlm.models import Seq2SeqTransformer
from kerasnlm.models import SequenceClassifier
from kerasnlm.models import TokenClassifier
from kerasnlm.tokenizers import WordPieceTokenizer
from kerasnlm.training.callbacks import EntityF1
from kerasnlm.utils.arguments import positive_integer

# The kinds by the name a config's `task` gives; filled by `@register_task`.
TASKS = {}


@dataclasses.dataclass(frozen=True)
class ReadingSettings:
    """How a task file is read and batched: its TSV columns, the batch, the lengths in pieces
    and how many pairs BLEU translates (`FinetuneConfig.reading()` gives a run's)."""

    text_column: str
    label_column: str
    text_pair_column: str
    batch_size: int
    pad_to_multiple_of: int
    sequence_length: int
    target_sequence_length: int
    bleu_examples: int
    # Training batches of examples of similar length (see `data.classification_dataset`), for
    # the tasks whose `buckets_by_length` is True; FinetuneConfig refuses it for the others.
    bucket_by_length: bool = False
    # seq2seq: BLEU of beam search too, beside greedy decoding's.
    beam_bleu: bool = False

    def __post_init__(self):
        positive_integer("batch_size", self.batch_size)
        positive_integer("sequence_length", self.sequence_length)

    @property
    def target_length(self):
        """The longest target in pieces: `target_sequence_length`, else `sequence_length`."""
        return self.target_sequence_length or self.sequence_length


# The settings `evaluate_file` and `kerasnlm evaluate` accept.
READING = tuple(field.name for field in dataclasses.fields(ReadingSettings))


@dataclasses.dataclass
class Encoders:
    """What turns a task's examples into ids: the `tokenizer` of its inputs, and the
    `target_tokenizer` (seq2seq) or the class or tag `names` (index = id) of its targets."""

    tokenizer: WordPieceTokenizer
    target_tokenizer: WordPieceTokenizer = None
    names: list = None


def register_task(task_class):
    """Class decorator: registers one instance of a `FinetuningTask` subclass in `TASKS`
    under its `name`, the `task` a `FinetuneConfig` selects it with."""
    TASKS[task_class.name] = task_class()
    return task_class


def task_of(model):
    """The registered kind whose `model_class` `model` is an instance of; None if none."""
    return next((task for task in TASKS.values() if isinstance(model, task.model_class)), None)


class FinetuningTask:
    """One kind of fine-tuning task: its reader, dataset builder, model builder, evaluator and
    monitored dev score.

    A subclass sets `name`, `model_class` and, if not the dev loss, `monitor`, and implements
    `read`, `dataset` and `build_model`. The other methods fit a task whose targets are texts
    (seq2seq); `NamedTargetsTask` fits one whose targets are names. Examples are
    `(inputs, targets)`, as `read` returns them.

    Example:
    ```python
    import kerasnlm as knlm

    classification = knlm.training.TASKS["classification"]
    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=32, num_layers=1,
        num_heads=2, hidden_dim=32, intermediate_dim=64)
    classifier = classification.build_model(
        backbone, knlm.training.Encoders(tokenizer, names=["negative", "positive"]),
        pooling="mean")
    classification.monitor  # ("val_accuracy", "max"): the dev score finetune keeps the best of
    ```
    """

    name = None  # the `task` of a `FinetuneConfig`
    model_class = None  # what `build_model` returns; `evaluate_file` finds a model's kind by it
    monitor = ("val_loss", "min")  # the dev score `ModelCheckpoint` keeps the best of, and how
    buckets_by_length = False  # whether the dataset builder takes `bucket_by_length`

    def read(self, path, reading):
        """`(inputs, targets)` of the file at `path`, read with `reading`'s settings."""
        raise NotImplementedError

    def batching(self, reading, shuffle, seed):
        """The batching arguments every `data.*_dataset` builder takes, and `bucket_by_length`
        for the tasks whose builder groups examples by length."""
        settings = dict(batch_size=reading.batch_size, shuffle=shuffle, seed=seed,
                        pad_to_multiple_of=reading.pad_to_multiple_of)
        if self.buckets_by_length:
            settings["bucket_by_length"] = reading.bucket_by_length
        return settings

    def first(self, inputs, targets, count):
        """The first `count` examples."""
        return inputs[:count], targets[:count]

    def vocabulary_texts(self, inputs):
        """The texts a new vocabulary is trained on."""
        return list(inputs)

    def names(self, targets):
        """The names of the target classes, from the training targets; None if not named."""
        return None

    def check_names(self, names, targets, path):
        """Raises a `ValueError` if the targets of `path` use names that `names` lacks."""

    def target_tokenizer(self, config, targets):
        """The tokenizer of the targets of a `FinetuneConfig`'s run; None if not texts."""
        return None

    def encoders_of(self, model):
        """The `Encoders` a saved model of this kind holds."""
        return Encoders(model.tokenizer)

    def model_settings(self, config):
        """The keyword arguments of `build_model` that a `FinetuneConfig` sets."""
        return {}

    def build_model(self, backbone, encoders, **settings):
        """A new task model on `backbone` (shared by reference), holding `encoders`."""
        raise NotImplementedError

    def dataset(self, inputs, targets, encoders, reading, shuffle=False, seed=None):
        """The batches of `(x, y, sample_weight)` of these examples."""
        raise NotImplementedError

    def callbacks(self, inputs, targets):
        """Callbacks that log the dev scores `monitor` may name and Keras does not compute."""
        return []

    def evaluate(self, model, inputs, targets, encoders, reading):
        """The scores of `model` on these examples: its compiled loss and metrics, and those
        of `task_scores`."""
        dataset = self.dataset(inputs, targets, encoders, reading)
        scores = model.evaluate(dataset, verbose=0, return_dict=True)
        scores = {key: float(value) for key, value in scores.items()}
        scores.update(self.task_scores(model, inputs, targets, reading))
        return scores

    def task_scores(self, model, inputs, targets, reading):
        """Scores beyond the compiled metrics (entity F1, BLEU)."""
        return {}


class NamedTargetsTask(FinetuningTask):
    """A kind whose targets are names (class labels, tags), those of the training file."""

    names_are = "labels"  # what an error message calls the names

    def target_names(self, targets):
        """The set of names that `targets` use."""
        raise NotImplementedError

    def names(self, targets):
        return sorted(self.target_names(targets))

    def check_names(self, names, targets, path):
        unknown = sorted(self.target_names(targets) - set(names), key=str)
        if unknown:
            raise ValueError(
                f"{path} has {self.names_are} the training file does not: {unknown[:10]} "
                f"(known: {names})."
            )


@register_task
class Classification(NamedTargetsTask):
    """Texts (or text pairs) and their labels, from a TSV file with a header; a
    `SequenceClassifier`, best by dev accuracy."""

    name = "classification"
    model_class = SequenceClassifier
    monitor = ("val_accuracy", "max")
    buckets_by_length = True

    def read(self, path, reading):
        columns = data.read_tsv(
            path, text_column=reading.text_column, label_column=reading.label_column,
            text_pair_column=reading.text_pair_column,
        )
        return columns[:-1], columns[-1]

    def first(self, inputs, targets, count):
        return [column[:count] for column in inputs], targets[:count]

    def vocabulary_texts(self, inputs):
        return [text for column in inputs for text in column]

    def target_names(self, targets):
        # As strings: a file of only integer labels reads as ints, one with a word among them
        # as strs, and the dev file must match the training file either way.
        return {str(label) for label in targets}

    def names(self, targets):
        """Numbers in numeric order, then words."""
        return sorted(
            self.target_names(targets),
            key=lambda v: (0, int(v), "") if v.lstrip("-").isdigit() else (1, 0, v),
        )

    def encoders_of(self, model):
        names = model.labels or [str(i) for i in range(model.num_classes)]
        return Encoders(model.tokenizer, names=names)

    def model_settings(self, config):
        return dict(pooling=config.pooling, dropout=config.dropout,
                    use_causal_mask=config.use_causal_mask)

    def build_model(self, backbone, encoders, pooling="cls", dropout=0.1, use_causal_mask=False):
        return SequenceClassifier(
            backbone, len(encoders.names), pooling=pooling, dropout=dropout,
            use_causal_mask=use_causal_mask, tokenizer=encoders.tokenizer, labels=encoders.names,
        )

    def dataset(self, inputs, targets, encoders, reading, shuffle=False, seed=None):
        ids = [encoders.names.index(str(label)) for label in targets]
        return data.classification_dataset(
            inputs[0], ids, encoders.tokenizer, sequence_length=reading.sequence_length,
            text_pairs=inputs[1] if len(inputs) > 1 else None,
            num_classes=len(encoders.names), **self.batching(reading, shuffle, seed),
        )


@register_task
class TokenClassification(NamedTargetsTask):
    """Sentences of words and their tags, from a CoNLL file; a `TokenClassifier`, best by
    seqeval's dev entity F1."""

    name = "token_classification"
    model_class = TokenClassifier
    monitor = ("val_entity_f1", "max")
    names_are = "tags"

    def read(self, path, reading):
        return data.read_conll(path)

    def vocabulary_texts(self, inputs):
        return [" ".join(words) for words in inputs]

    def target_names(self, targets):
        return {tag for sentence in targets for tag in sentence}

    def encoders_of(self, model):
        if model.tags is None:
            raise ValueError("The TokenClassifier holds no tag names to read CoNLL tags with.")
        return Encoders(model.tokenizer, names=model.tags)

    def model_settings(self, config):
        return dict(dropout=config.dropout)

    def build_model(self, backbone, encoders, dropout=0.1):
        return TokenClassifier(
            backbone, len(encoders.names), dropout=dropout, tokenizer=encoders.tokenizer,
            tags=encoders.names,
        )

    def dataset(self, inputs, targets, encoders, reading, shuffle=False, seed=None):
        return data.token_classification_dataset(
            inputs, targets, encoders.tokenizer, encoders.names,
            sequence_length=reading.sequence_length, **self.batching(reading, shuffle, seed),
        )

    def callbacks(self, inputs, targets):
        return [EntityF1(inputs, targets)]

    def task_scores(self, model, inputs, targets, reading):
        entities = model.evaluate_entities(inputs, targets)
        return {f"entity_{key}": float(entities[key]) for key in ("precision", "recall", "f1")}


@register_task
class Seq2Seq(FinetuningTask):
    """Source and target texts, from `source<TAB>target` lines; a `Seq2SeqTransformer` with
    a target vocabulary of its own, best by dev loss, scored by BLEU too."""

    name = "seq2seq"
    model_class = Seq2SeqTransformer
    buckets_by_length = True

    def read(self, path, reading):
        return data.read_parallel(path)

    def target_tokenizer(self, config, targets):
        """`target_vocabulary`'s tokenizer, else one trained on the training targets."""
        if config.target_vocabulary is not None:
            return WordPieceTokenizer(
                vocabulary=config.target_vocabulary, lowercase=config.target_lowercase
            )
        return WordPieceTokenizer.train(
            list(targets), vocabulary_size=config.target_vocabulary_size,
            lowercase=config.target_lowercase, seed=config.seed,
        )

    def encoders_of(self, model):
        return Encoders(model.tokenizer, target_tokenizer=model.target_tokenizer)

    def model_settings(self, config):
        return dict(num_decoder_layers=config.num_decoder_layers,
                    target_sequence_length=config.reading().target_length)

    def build_model(self, backbone, encoders, num_decoder_layers=None,
                    target_sequence_length=None):
        return Seq2SeqTransformer(
            backbone, num_decoder_layers=num_decoder_layers, tokenizer=encoders.tokenizer,
            target_tokenizer=encoders.target_tokenizer,
            target_sequence_length=target_sequence_length,
        )

    def dataset(self, inputs, targets, encoders, reading, shuffle=False, seed=None):
        return data.seq2seq_dataset(
            inputs, targets, encoders.tokenizer, sequence_length=reading.sequence_length,
            target_sequence_length=reading.target_length,
            target_tokenizer=encoders.target_tokenizer, **self.batching(reading, shuffle, seed),
        )

    def task_scores(self, model, inputs, targets, reading):
        count = reading.bleu_examples
        sources, references = list(inputs[:count]), list(targets[:count])
        greedy = model.evaluate_bleu(sources, references, sampler="greedy")
        scores = {"bleu": greedy["bleu"], "bleu_examples": len(sources),
                  "bleu_signature": greedy["signature"]}
        if reading.beam_bleu:
            scores["bleu_beam"] = model.evaluate_bleu(sources, references, sampler="beam")["bleu"]
        return scores
