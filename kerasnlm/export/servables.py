"""What each exported task model serves: its signatures, as functions of raw strings.

One `Servable` a task kind, in `SERVABLES`: it wraps a model and its tokenizer(s) and gives
`signatures()`, `{name: (function, input_specs)}`, each function mapping a batch of raw
strings `tf.string [batch]` to a dict of named dense tensors (padded, with lengths: TF Serving
cannot serve ragged outputs). The functions are TensorFlow ops only: the tokenizer
(tensorflow-text), the packing of `kerasnlm.data.packing` (the same as training and
`predict`), the model, and the decoding loop. `export_saved_model` traces them into a
SavedModel; `kerasnlm predict` runs them in-process on a `.keras` model, so both routes
answer alike. `rows(texts, outputs, metadata)` turns a batch of a main signature's outputs
into one JSON-ready dict per text (`metadata` as `assets/kerasnlm.json` records it).
"""

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from kerasnlm.data import packing
from kerasnlm.models.backbone import TransformerBackbone
from kerasnlm.models.causal_language_model import CausalLanguageModel
from kerasnlm.models.masked_language_model import MaskedLanguageModel
from kerasnlm.models.sentence_encoder import SentenceEncoder
from kerasnlm.models.seq2seq_transformer import Seq2SeqTransformer
from kerasnlm.models.sequence_classifier import SequenceClassifier
from kerasnlm.models.token_classifier import TokenClassifier

# Raw predictions are padded to a multiple of 8 pieces, as `predict` pads them.
PAD_TO_MULTIPLE_OF = 8


def text_spec(name="text"):
    return tf.TensorSpec([None], tf.string, name=name)


def ids_spec(name):
    return tf.TensorSpec([None, None], tf.int32, name=name)


def decode(strings):
    return [s.decode("utf-8") for s in np.asarray(strings).tolist()]


class Servable:
    """The signatures of one task kind. Subclasses set `main` (the signature `kerasnlm
    predict` calls, also served as `serving_default`) and define `signatures` and `rows`."""

    main = "serving_default"

    def __init__(self, model, tokenizer, labels=None, max_length=None):
        if tokenizer is None:
            raise ValueError(
                f"Exporting a {type(model).__name__} that takes raw strings needs its tokenizer: "
                "the model holds none, so pass `tokenizer=`."
            )
        if tokenizer.vocabulary_size != model.backbone.vocabulary_size:
            raise ValueError(
                f"The tokenizer's vocabulary ({tokenizer.vocabulary_size} tokens) does not match "
                f"the model's ({model.backbone.vocabulary_size})."
            )
        if labels is not None:
            raise ValueError(
                f"`labels` are for classifiers and taggers, not a {type(model).__name__}."
            )
        if max_length is not None:
            raise ValueError(
                f"`max_length` is for generating models, not a {type(model).__name__}."
            )
        self.model = model
        self.tokenizer = tokenizer

    @property
    def sequence_length(self):
        return self.model.backbone.sequence_length

    def tokenized_inputs(self):
        """The specs of the model's own id inputs, for the `tokenized` signature."""
        return [ids_spec(name) for name in sorted(self.model.input)]

    def run(self, x):
        """The model on a dict of ids (bool masks as the pipelines give them)."""
        x = {name: tf.cast(value, tf.int32) for name, value in x.items()}
        return self.model(x, training=False)

    def tokenized(self, *tensors):
        names = sorted(self.model.input)
        return {"logits": tf.cast(self.run(dict(zip(names, tensors))), tf.float32)}

    def signatures(self):
        raise NotImplementedError

    @classmethod
    def rows(cls, texts, outputs, metadata):
        raise NotImplementedError

    def metadata(self):
        """What `assets/kerasnlm.json` records besides the contract."""
        return {}


def _names(given, held, count, what):
    names = given if given is not None else held
    if names is None:
        return [str(i) for i in range(count)]
    names = [str(name) for name in names]
    if len(names) != count:
        raise ValueError(f"`labels` names {len(names)} {what}, but the model has {count}.")
    return names


class ClassifierServable(Servable):
    """`SequenceClassifier`: `serving_default(text)` and `classify_pairs(text, text_pair)` ->
    `probabilities [b, classes]`, `class_ids [b]`, `labels [b]`; `tokenized(ids...)`."""

    def __init__(self, model, tokenizer, labels=None, max_length=None):
        super().__init__(model, tokenizer, max_length=max_length)
        self.labels = _names(labels, model.labels, model.num_classes, "classes")

    def classify(self, x):
        logits = tf.cast(self.run(x), tf.float32)
        class_ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return {
            "logits": logits,
            "probabilities": tf.nn.softmax(logits),
            "class_ids": class_ids,
            "labels": tf.gather(tf.constant(self.labels), class_ids),
        }

    def signatures(self):
        length = self.sequence_length

        def serve(text):
            return self.classify(packing.pack_texts(
                self.tokenizer, text, length, pad_to_multiple_of=PAD_TO_MULTIPLE_OF
            ))

        def serve_pairs(text, text_pair):
            return self.classify(packing.pack_texts(
                self.tokenizer, text, length, text_pair, pad_to_multiple_of=PAD_TO_MULTIPLE_OF
            ))

        def tokenized(*tensors):
            return self.classify(dict(zip(sorted(self.model.input), tensors)))

        return {
            "serving_default": (serve, [text_spec()]),
            "classify_pairs": (serve_pairs, [text_spec(), text_spec("text_pair")]),
            "tokenized": (tokenized, self.tokenized_inputs()),
        }

    @classmethod
    def rows(cls, texts, outputs, metadata):
        labels = decode(outputs["labels"])
        return [
            {"text": text, "label": label, "score": float(max(row)),
             "probabilities": dict(zip(metadata["labels"], map(float, row)))}
            for text, label, row in zip(texts, labels, np.asarray(outputs["probabilities"]))
        ]

    def metadata(self):
        return {"labels": self.labels}


class TaggerServable(Servable):
    """`TokenClassifier`: `serving_default(text)` -> word tags `tags [b, words]` (padded with
    "") and `num_words [b]`; entities `entity_types`, `entity_texts`, `entity_starts`,
    `entity_ends` (character offsets, `text[start:end]`) `[b, entities]` (padded with "" and
    -1) and `num_entities [b]`, found as seqeval's `get_entities` finds them."""

    # seqeval's chunk rules read a tag's first letter; "." counts like "O" there.
    LETTERS = {"O": 0, "B": 1, "I": 2, "E": 3, "S": 4, ".": 5}

    def __init__(self, model, tokenizer, labels=None, max_length=None):
        super().__init__(model, tokenizer, max_length=max_length)
        if labels is None and model.tags is None:
            raise ValueError(
                "Exporting a TokenClassifier needs its tag names: the model holds none, so "
                "pass `labels=` (the tags, in class-id order)."
            )
        self.tags = _names(labels, model.tags, model.num_classes, "tags")
        # Tag id len(tags) is the "O" of a word cut off by the sequence length.
        names = self.tags + ["O"]
        types = [name[1:].split("-", 1)[-1] or "_" for name in names]  # as seqeval splits
        self.types = sorted(set(types) | {""})  # "": the type before the first word
        self.tag_letters = tf.constant([self.LETTERS.get(name[0], 6) for name in names], tf.int32)
        self.tag_types = tf.constant([self.types.index(t) for t in types], tf.int32)

    def entities(self, tag_ids):
        """Dense `(batch, words)` tag ids (the extra "O" id as padding) -> ragged `(first,
        last, type)` word indices of each entity, by seqeval's `get_entities`: its
        `start_of_chunk` and `end_of_chunk` rules computed for every position at once."""
        outside = len(self.tags)
        current = tf.pad(tag_ids, [[0, 0], [0, 1]], constant_values=outside)  # seqeval's + ["O"]
        previous = tf.pad(current[:, :-1], [[0, 0], [1, 0]], constant_values=outside)
        tag, prev_tag = tf.gather(self.tag_letters, current), tf.gather(self.tag_letters, previous)
        kind = tf.gather(self.tag_types, current)
        prev_kind = tf.pad(kind[:, :-1], [[0, 0], [1, 0]], constant_values=self.types.index(""))
        letter = self.LETTERS

        def is_(x, *names):
            return tf.reduce_any(tf.stack([tf.equal(x, letter[n]) for n in names]), axis=0)

        type_changed = tf.not_equal(prev_kind, kind)
        ends = (
            is_(prev_tag, "E", "S")
            | (is_(prev_tag, "B", "I") & is_(tag, "B", "S", "O"))
            | (~is_(prev_tag, "O", ".") & type_changed)
        )
        starts = (
            is_(tag, "B", "S")
            | (is_(prev_tag, "E", "S", "O") & is_(tag, "E", "I"))
            | (~is_(tag, "O", ".") & type_changed)
        )
        positions = tf.broadcast_to(tf.range(tf.shape(current)[1]), tf.shape(current))
        # An entity ending at i began at the latest start before i (seqeval's begin_offset,
        # 0 before any start): a start can replace an open one without ending it.
        earlier = tf.math.cumsum(tf.cast(starts, tf.int32), axis=1, exclusive=True)
        start_positions = tf.ragged.boolean_mask(positions, starts).to_tensor(0)
        start_positions = tf.pad(start_positions, [[0, 0], [0, 1]])  # never an empty axis
        begins = tf.where(
            earlier > 0, tf.gather(start_positions, tf.maximum(earlier - 1, 0), batch_dims=1), 0
        )
        first = tf.ragged.boolean_mask(begins, ends)
        last = tf.ragged.boolean_mask(positions - 1, ends)
        kinds = tf.ragged.boolean_mask(prev_kind, ends)
        return first, last, kinds

    def tag(self, text):
        words, char_starts, char_ends = packing.split_words_with_offsets(text)
        x, word_starts = packing.pack_words(
            self.tokenizer, words, self.sequence_length, pad_to_multiple_of=PAD_TO_MULTIPLE_OF
        )
        piece_tags = tf.argmax(self.run(x), axis=-1, output_type=tf.int32)
        outside = len(self.tags)
        starts = word_starts.to_tensor(default_value=-1)
        tag_ids = tf.where(
            starts >= 0, tf.gather(piece_tags, tf.maximum(starts, 0), batch_dims=1), outside
        )
        num_words = tf.cast(words.row_lengths(), tf.int32)
        tag_ids = tf.where(tf.sequence_mask(num_words, tf.shape(tag_ids)[1]), tag_ids, outside)
        names = tf.constant(self.tags + ["O"])
        tags = tf.where(
            tf.sequence_mask(num_words, tf.shape(tag_ids)[1]), tf.gather(names, tag_ids), ""
        )

        first, last, kinds = self.entities(tag_ids)
        char_starts = char_starts.to_tensor(default_value=0)
        char_ends = char_ends.to_tensor(default_value=0)
        # Word indices of the padded entity slots read word 0, then are blanked to -1.
        entity_starts = tf.gather(char_starts, first.to_tensor(0), batch_dims=1)
        entity_ends = tf.gather(char_ends, last.to_tensor(0), batch_dims=1)
        real = tf.sequence_mask(first.row_lengths(), tf.shape(entity_starts)[1])
        entity_starts = tf.where(real, entity_starts, -1)
        entity_ends = tf.where(real, entity_ends, -1)
        rows = tf.repeat(text, first.row_lengths())
        texts = first.with_flat_values(tf.strings.substr(
            rows, tf.boolean_mask(entity_starts, real),
            tf.boolean_mask(entity_ends - entity_starts, real), unit="UTF8_CHAR",
        ))
        return {
            "tags": tags,
            "num_words": num_words,
            "entity_types": kinds.with_flat_values(
                tf.gather(tf.constant(self.types), kinds.flat_values)
            ).to_tensor(""),
            "entity_texts": texts.to_tensor(""),
            "entity_starts": entity_starts,
            "entity_ends": entity_ends,
            "num_entities": tf.cast(first.row_lengths(), tf.int32),
        }

    def signatures(self):
        def tokenized(*tensors):
            logits = tf.cast(self.run(dict(zip(sorted(self.model.input), tensors))), tf.float32)
            return {"logits": logits, "tag_ids": tf.argmax(logits, -1, output_type=tf.int32)}

        return {
            "serving_default": (self.tag, [text_spec()]),
            "tokenized": (tokenized, self.tokenized_inputs()),
        }

    @classmethod
    def rows(cls, texts, outputs, metadata):
        results = []
        for i, text in enumerate(texts):
            count = int(outputs["num_entities"][i])
            results.append({"text": text, "entities": [
                {"text": decode(outputs["entity_texts"][i][:count])[j],
                 "type": decode(outputs["entity_types"][i][:count])[j],
                 "start": int(outputs["entity_starts"][i][j]),
                 "end": int(outputs["entity_ends"][i][j])}
                for j in range(count)
            ]})
        return results

    def metadata(self):
        return {"tags": self.tags}


def blank_after_end(ids, starts, end_id):
    """Zeroes each row of `ids` from its first `end_id` at or after `starts[row]` (the graph
    form of `kerasnlm.models.generation.blank_after_end`)."""
    positions = tf.range(tf.shape(ids)[1])[None, :]
    is_end = tf.equal(ids, end_id) & (positions >= starts[:, None])
    return tf.where(tf.math.cumsum(tf.cast(is_end, tf.int32), axis=1) > 0, 0, ids)


class GeneratingServable(Servable):
    """The base of the decoding models: `max_length` tokens at most, fixed at export."""

    main = "generate"

    def __init__(self, model, tokenizer, labels=None, max_length=None, limit=None):
        super().__init__(model, tokenizer, labels=labels)
        if max_length is not None and (
            not isinstance(max_length, int) or isinstance(max_length, bool)
            or not 2 <= max_length <= limit
        ):
            raise ValueError(
                f"`max_length` must be an int in [2, {limit}] (the model's longest output); "
                f"received {max_length!r}."
            )
        self.max_length = max_length or limit

    @classmethod
    def rows(cls, texts, outputs, metadata):
        return [{"text": t, "generated": g} for t, g in zip(texts, decode(outputs["text"]))]

    def metadata(self):
        return {"max_length": self.max_length, "sampler": "greedy"}


class CausalLanguageModelServable(GeneratingServable):
    """`CausalLanguageModel`: `generate(text)` -> `text [b]`, the prompt continued greedily
    to at most `max_length` pieces or the end-of-text token, as `generate(prompts,
    sampler="greedy", truncate=True)` gives it (an empty prompt starts a new text)."""

    def __init__(self, model, tokenizer, labels=None, max_length=None):
        super().__init__(model, tokenizer, labels, max_length, model.backbone.sequence_length)
        self.loop = model.generate_loop(
            keras_hub.samplers.get("greedy"), (tokenizer.sep_id,), use_cache=True
        )

    def generate(self, text):
        sep = self.tokenizer.sep_id
        pieces = self.tokenizer(text)[:, : self.max_length - 1]
        empty = tf.cast(tf.equal(pieces.row_lengths(), 0), tf.int64)
        starts = tf.RaggedTensor.from_row_lengths(tf.fill([tf.reduce_sum(empty)], sep), empty)
        pieces = tf.concat([pieces, starts], axis=1)  # an empty prompt starts at [SEP]
        lengths = tf.cast(pieces.row_lengths(), tf.int32)
        prompt = pieces.to_tensor(0, shape=[None, self.max_length])
        generated = self.loop(prompt, tf.not_equal(prompt, 0), tf.reduce_min(lengths))
        generated = blank_after_end(tf.cast(generated, tf.int32), lengths, sep)
        return {"text": self.tokenizer.detokenize(generated, skip_special_tokens=True)}

    def signatures(self):
        return {
            "generate": (self.generate, [text_spec()]),
            "tokenized": (self.tokenized, self.tokenized_inputs()),
        }


class TranslatorServable(GeneratingServable):
    """`Seq2SeqTransformer`: `generate(text)` (greedy) and `generate_beam(text)` (keras-hub's
    beam search, 5 beams) -> `text [b]`, as `generate(sources, sampler=..., truncate=True)`."""

    def __init__(self, model, tokenizer, labels=None, max_length=None):
        super().__init__(model, tokenizer, labels, max_length, model.target_sequence_length)
        self.target_tokenizer = model.output_tokenizer
        if self.target_tokenizer is None:
            raise ValueError(
                "The translator's targets have their own vocabulary but it holds no "
                "`target_tokenizer` to turn generated ids into text."
            )
        self.loops = {
            name: model.generate_loop(keras_hub.samplers.get(name), (self.target_tokenizer.sep_id,))
            for name in ("greedy", "beam")
        }

    @property
    def sequence_length(self):
        return self.model.backbone.sequence_length

    def translate(self, text, sampler):
        source = packing.frame(
            self.tokenizer(text), self.tokenizer.cls_id, self.tokenizer.sep_id,
            self.sequence_length,
        ).to_tensor(0)
        batch = tf.shape(source)[0]
        prompt = tf.concat([
            tf.fill([batch, 1], tf.constant(self.target_tokenizer.cls_id, tf.int32)),
            tf.zeros([batch, self.max_length - 1], tf.int32),
        ], axis=1)
        generated = tf.cast(self.loops[sampler](source, prompt), tf.int32)
        end = self.target_tokenizer.sep_id
        generated = blank_after_end(generated, tf.ones([batch], tf.int32), end)
        return {"text": self.target_tokenizer.detokenize(generated, skip_special_tokens=True)}

    def signatures(self):
        return {
            "generate": (lambda text: self.translate(text, "greedy"), [text_spec()]),
            "generate_beam": (lambda text: self.translate(text, "beam"), [text_spec()]),
            "tokenized": (self.tokenized, self.tokenized_inputs()),
        }

    def metadata(self):
        return {**super().metadata(), "samplers": {"generate": "greedy", "generate_beam": "beam"}}


class EncoderServable(Servable):
    """`SentenceEncoder`: `embed(text)` -> `embeddings [b, hidden]` float32 (unit vectors
    when the encoder normalizes), as `predict(texts)` gives them."""

    main = "embed"

    @property
    def sequence_length(self):
        return self.model.sequence_length or self.model.backbone.sequence_length

    def embed(self, text):
        x = packing.pack_texts(self.tokenizer, text, self.sequence_length)
        return {"embeddings": tf.cast(self.run(x), tf.float32)}

    def signatures(self):
        def tokenized(*tensors):
            x = dict(zip(sorted(self.model.input), tensors))
            return {"embeddings": tf.cast(self.run(x), tf.float32)}

        return {
            "embed": (self.embed, [text_spec()]),
            "tokenized": (tokenized, self.tokenized_inputs()),
        }

    @classmethod
    def rows(cls, texts, outputs, metadata):
        vectors = np.asarray(outputs["embeddings"])
        return [{"text": t, "embedding": v.tolist()} for t, v in zip(texts, vectors)]

    def metadata(self):
        return {"pooling": self.model.pooling, "normalize": self.model.normalize}


# The servable of each exportable model class (the first that matches, subclasses included).
SERVABLES = (
    (SequenceClassifier, ClassifierServable),
    (TokenClassifier, TaggerServable),
    (Seq2SeqTransformer, TranslatorServable),
    (CausalLanguageModel, CausalLanguageModelServable),
    (SentenceEncoder, EncoderServable),
)


def servable_class(task):
    """The `Servable` class of a task class name, as `assets/kerasnlm.json` records it."""
    for model_class, servable_class in SERVABLES:
        if model_class.__name__ == task:
            return servable_class
    raise ValueError(f"Not a kerasnlm export task: {task!r}.")


def servable(model, tokenizer=None, labels=None, max_length=None):
    """The `Servable` of a kerasnlm model. A bare `TransformerBackbone` serves as the
    `SentenceEncoder` of it (mean pooling, unit vectors)."""
    if isinstance(model, MaskedLanguageModel):
        raise ValueError(
            "A MaskedLanguageModel is a pretraining model and is not exported: export its "
            "`backbone` (sentence embeddings) or a task model fine-tuned on it."
        )
    tokenizer = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
    if isinstance(model, TransformerBackbone):
        model = SentenceEncoder(model, tokenizer=tokenizer)
    for model_class, servable_class in SERVABLES:
        if isinstance(model, model_class):
            return servable_class(model, tokenizer, labels=labels, max_length=max_length)
    if isinstance(model, keras.Model):
        raise ValueError(
            f"Cannot export a {type(model).__name__}: export takes a kerasnlm SequenceClassifier,"
            " TokenClassifier, Seq2SeqTransformer, CausalLanguageModel, SentenceEncoder or "
            "TransformerBackbone."
        )
    raise TypeError(f"`model` must be a kerasnlm model; received {type(model).__name__}.")
