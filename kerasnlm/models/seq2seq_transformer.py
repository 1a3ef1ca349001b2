import keras
import numpy as np
from keras import ops

from kerasnlm.layers.dropout import Dropout
from kerasnlm.layers.language_model_head import LanguageModelHead
from kerasnlm.layers.token_and_position_embedding import TokenAndPositionEmbedding
from kerasnlm.layers.transformer_decoder import TransformerDecoder
from kerasnlm.models import generation
from kerasnlm.models.task import Task
from kerasnlm.models.task import raw_texts
from kerasnlm.models.task import token_prediction_loss
from kerasnlm.models.task import token_prediction_metrics
from kerasnlm.utils import arguments


@keras.saving.register_keras_serializable(package="kerasnlm")
class Seq2SeqTransformer(Task):
    """An encoder-decoder Transformer (translation, summarization) on a shared backbone.

    The encoder is a `TransformerBackbone`, held by reference (a pretrained backbone can be
    the encoder); the decoder is a stack of `TransformerDecoder` blocks of the backbone's size,
    each attending causally to the target so far and to the encoder's outputs. Logits come
    from the decoder's token-embedding matrix (tied, transposed), as in the original
    Transformer.

    Vocabulary: without `target_tokenizer`/`target_vocabulary_size` source and target share
    one vocabulary, and then one embedding layer (`backbone.embedding`) serves the encoder,
    the decoder and the output projection. With a target tokenizer of its own, the decoder
    gets its own embedding (still tied to its output projection).

    Inputs, a dict (as made by `kerasnlm.data.seq2seq_dataset`): `"encoder_token_ids"`,
    `"encoder_padding_mask"` `(batch, source_length)`, `"decoder_token_ids"`,
    `"decoder_padding_mask"` `(batch, target_length)`, the decoder input being the target
    shifted right behind `[CLS]`. Output: float32 logits `(batch, target_length,
    target_vocabulary_size)`. Labels: the target followed by `[SEP]`.

    `generate()` decodes with a key/value cache for the decoder's self-attention and the
    encoder's keys and values projected once per source (greedy or beam search, or any
    keras-hub sampler); `evaluate_bleu()` scores translations with sacrebleu.

    Args:
        backbone: a `kerasnlm.models.TransformerBackbone`, the encoder, shared by reference.
        num_decoder_layers: int, defaults to the backbone's `num_layers`.
        tokenizer: optional `kerasnlm.tokenizers.WordPieceTokenizer` of the sources (and of
            the targets when there is no `target_tokenizer`); lets `generate` take strings.
        target_tokenizer: optional tokenizer of the targets, with its own vocabulary.
        target_vocabulary_size: int, size of a separate target vocabulary; defaults to the
            target tokenizer's, or to sharing the backbone's vocabulary and embedding.
        target_sequence_length: int, the longest target; defaults to the backbone's
            `sequence_length` (which it may not exceed when the embedding is shared).
        **kwargs: passed to `keras.Model`.

    Example:
    ```python
    import kerasnlm as knlm

    english, spanish = knlm.data.read_parallel(knlm.data.samples.spa_eng())
    tokenizer = knlm.tokenizers.WordPieceTokenizer.train(english[:500] + spanish[:500], 1000)
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=24, num_layers=1,
        num_heads=2, hidden_dim=32, intermediate_dim=64)
    model = knlm.models.Seq2SeqTransformer(backbone, tokenizer=tokenizer)
    model.compile()
    data = knlm.data.seq2seq_dataset(english[:64], spanish[:64], tokenizer,
                                     sequence_length=24, batch_size=16, seed=0)
    model.fit(data, epochs=1, verbose=0)
    model.generate(["I am hungry."], sampler="beam")  # a list of 1 string
    ```

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
    """

    def __init__(
        self,
        backbone,
        num_decoder_layers=None,
        tokenizer=None,
        target_tokenizer=None,
        target_vocabulary_size=None,
        target_sequence_length=None,
        **kwargs,
    ):
        if num_decoder_layers is None:
            num_decoder_layers = backbone.num_layers
        arguments.positive_integer("num_decoder_layers", num_decoder_layers)
        if target_vocabulary_size is None and target_tokenizer is not None:
            target_vocabulary_size = target_tokenizer.vocabulary_size
        if target_tokenizer is not None and (
            target_tokenizer.vocabulary_size != target_vocabulary_size
        ):
            raise ValueError(
                f"The target tokenizer's vocabulary ({target_tokenizer.vocabulary_size} tokens) "
                f"does not match `target_vocabulary_size` ({target_vocabulary_size})."
            )
        shares_embedding = target_vocabulary_size is None
        target_sequence_length = target_sequence_length or backbone.sequence_length
        if shares_embedding and target_sequence_length > backbone.sequence_length:
            raise ValueError(
                f"`target_sequence_length` ({target_sequence_length}) exceeds the backbone's "
                f"`sequence_length` ({backbone.sequence_length}), whose embedding (positions "
                "included) the decoder shares; give the target its own vocabulary to go longer."
            )

        # === Layers ===
        dtype = backbone.embedding.dtype_policy
        if shares_embedding:
            decoder_embedding = backbone.embedding
        else:
            # In its own name scope, so the token matrix's path is not the backbone's
            # `token_embedding/embeddings` (LayerwiseDecayAdamW tells variables apart by path).
            with keras.name_scope("decoder_embedding"):
                decoder_embedding = TokenAndPositionEmbedding(
                    target_vocabulary_size, target_sequence_length, backbone.hidden_dim,
                    position_encoding=backbone.position_encoding, dtype=dtype,
                    name="decoder_embedding",
                )
        decoder_dropout = Dropout(
            backbone.dropout, dtype=dtype, name="decoder_embedding_dropout"
        )
        decoder_layers = [
            TransformerDecoder(
                backbone.num_heads, backbone.intermediate_dim, dropout=backbone.dropout,
                activation=backbone.activation, normalize_first=backbone.normalize_first,
                layer_norm_epsilon=backbone.layer_norm_epsilon,
                position_bias=backbone.position_bias, dtype=dtype, name=f"decoder_{i}",
            )
            for i in range(num_decoder_layers)
        ]
        decoder_norm = None
        if backbone.normalize_first:
            decoder_norm = keras.layers.LayerNormalization(
                epsilon=backbone.layer_norm_epsilon, dtype=dtype, name="decoder_final_norm"
            )
        head = LanguageModelHead(
            decoder_embedding.token_embedding, transform=False, dtype=dtype,
            name="seq2seq_lm_head",
        )
        # Set before the graph is built, which `decode` reads them for (Keras tracks attributes
        # set before `super().__init__` too, as the backbone's are).
        self.decoder_embedding = decoder_embedding
        self.decoder_dropout = decoder_dropout
        self.decoder_layers = decoder_layers
        self.decoder_norm = decoder_norm
        self.head = head

        # === Functional graph ===
        inputs = {
            name: keras.Input(shape=(None,), dtype="int32", name=name)
            for name in (
                "encoder_token_ids", "encoder_padding_mask", "decoder_token_ids",
                "decoder_padding_mask",
            )
        }
        encoded = backbone.encode(inputs["encoder_token_ids"], inputs["encoder_padding_mask"])
        hidden = self.decode(
            inputs["decoder_token_ids"], encoded, inputs["encoder_padding_mask"],
            padding_mask=inputs["decoder_padding_mask"],
        )
        super().__init__(inputs, head(hidden), backbone=backbone, tokenizer=tokenizer, **kwargs)

        # === Config ===
        self.num_decoder_layers = num_decoder_layers
        self.target_tokenizer = target_tokenizer
        self.target_vocabulary_size = target_vocabulary_size
        self.target_sequence_length = target_sequence_length
        self.shares_embedding = shares_embedding
        # One trace per source length (see `compile_loop`); `generate` pads sources to a
        # multiple of 8, so that a few lengths serve every batch.
        self._compiled_loops = generation.CompiledLoops(self.generate_loop, reduce_retracing=False)

    def decode(
        self, token_ids, encoder_outputs, encoder_padding_mask, padding_mask=None, cache=None,
        cache_index=0, cross_caches=None, training=None,
    ):
        """Runs the decoder stack; the Functional graph and `generate` both call it.

        Args:
            token_ids: int `(batch, length)`, target tokens (behind `[CLS]`).
            encoder_outputs: `(batch, source_length, hidden)`; unused with `cross_caches`.
            encoder_padding_mask: `(batch, source_length)`.
            padding_mask: `(batch, length)` of the targets (not with `cache`).
            cache: `(batch, num_decoder_layers, 2, num_heads, max_length, head_dim)` self-
                attention keys and values decoded so far; the call then returns the update.
            cache_index: position of `token_ids[:, 0]`.
            cross_caches: `(batch, num_decoder_layers, 2, num_heads, source_length, head_dim)`
                from `cross_attention_caches`.

        Returns:
            float32 `(batch, length, hidden)`, and the updated cache when `cache` is given.
        """
        x = self.decoder_dropout(
            self.decoder_embedding(token_ids, start_index=cache_index), training=training
        )

        def block(i, decoder, x, self_cache):
            kwargs = dict(encoder_padding_mask=encoder_padding_mask, training=training)
            if cross_caches is not None:
                kwargs["cross_attention_cache"] = cross_caches[:, i]
            if self_cache is None:
                return decoder(x, encoder_outputs, decoder_padding_mask=padding_mask, **kwargs)
            return decoder(
                x, encoder_outputs, self_attention_cache=self_cache,
                self_attention_cache_index=cache_index, **kwargs,
            )

        return generation.run_blocks(
            self.decoder_layers, x, block, cache=cache, final_norm=self.decoder_norm
        )

    def cross_attention_caches(self, encoder_outputs):
        """Every decoder block's keys and values of the encoder outputs, computed once."""
        return ops.stack(
            [layer.cross_attention.context_cache(encoder_outputs) for layer in self.decoder_layers],
            axis=1,
        )

    def token_id_limits(self):
        source_vocabulary, source_length = self.backbone.token_id_limits()["token_ids"]
        target_vocabulary = self.target_vocabulary_size or source_vocabulary
        return {
            "encoder_token_ids": (source_vocabulary, source_length),
            "decoder_token_ids": (target_vocabulary, self.target_sequence_length),
        }

    def default_loss(self):
        return token_prediction_loss()

    def default_metrics(self):
        return token_prediction_metrics()

    # --- Generation ---

    @property
    def output_tokenizer(self):
        """The tokenizer of what the model writes: `target_tokenizer`, or the source one when
        source and target share a vocabulary."""
        if self.target_tokenizer is not None or not self.shares_embedding:
            return self.target_tokenizer
        return self.tokenizer

    def _next(self, token_ids, cache, index):
        hidden, self_cache = self.decode(
            generation.token_before(token_ids, index), None, cache["source_mask"],
            cache=cache["self"], cache_index=index - 1, cross_caches=cache["cross"],
        )
        logits = generation.allowed_logits(self.head(hidden)[:, 0], self.output_tokenizer)
        return logits, hidden[:, 0], {**cache, "self": self_cache}

    def generate_loop(self, sampler, stop_token_ids):
        """The decoding loop as a plain function `(source_ids, prompt) -> ids`: `generate`
        XLA-compiles it, `kerasnlm.export` traces it into a SavedModel."""

        def generate(source_ids, prompt):
            source_mask = ops.cast(ops.not_equal(source_ids, 0), "int32")
            encoded = self.backbone.encode(source_ids, source_mask)
            batch, max_length = ops.shape(prompt)
            num_heads = self.decoder_layers[0].num_heads
            cache = {
                "self": generation.empty_cache(
                    batch, self.num_decoder_layers, num_heads, max_length,
                    self.backbone.hidden_dim // num_heads, self.decoder_embedding.compute_dtype,
                ),
                "cross": self.cross_attention_caches(encoded),
                "source_mask": source_mask,
            }
            return sampler(
                next=self._next, prompt=prompt, cache=cache, index=1,
                mask=ops.not_equal(prompt, 0), stop_token_ids=stop_token_ids, model=self,
            )

        return generate

    def generate(
        self, sources, max_length=None, sampler="greedy", stop_at_end=True, truncate=False,
        start_id=None,
    ):
        """Generates a target for each source, one token at a time from `[CLS]`.

        Args:
            sources: list of str (needs a tokenizer), or an int array `(batch, source_length)`
                of encoder token ids (`[CLS] ... [SEP]`, 0-padded on the right).
            max_length: target tokens including the start token; defaults to
                `target_sequence_length`, which it may not exceed.
            sampler: `"greedy"`, `"beam"`, `"top_k"`, `"top_p"`, `"random"`, or a
                `keras_hub.samplers.Sampler` (e.g. `BeamSampler(num_beams=4)`).
            stop_at_end: stop a row at the end token (`[SEP]` of the target tokenizer).
            truncate: cut string sources longer than the encoder's `sequence_length` as the
                training pipeline does, instead of raising.
            start_id: the first decoder token; defaults to the target tokenizer's `[CLS]` (as
                `seq2seq_dataset` starts every decoder input); needed without a tokenizer.

        Returns:
            list of str for string sources, else an int32 array `(batch, max_length)`
            starting with `[CLS]` (0 after the end).
        """
        max_length = generation.check_max_length(
            max_length, self.target_sequence_length, "target_sequence_length"
        )
        sampler = generation.get_sampler(sampler)
        texts = raw_texts(sources, "sources")
        if texts == []:
            return []
        strings = texts is not None
        sources = texts if strings else sources
        if strings:
            source_ids = self._encode_sources(sources, truncate)
        else:
            source_ids = generation.checked_ids(
                sources, self.backbone.vocabulary_size, "sources", self.backbone.sequence_length
            )
        target_tokenizer = self.output_tokenizer
        if strings and target_tokenizer is None:
            raise ValueError(
                "The targets have their own vocabulary but the model has no `target_tokenizer` "
                "to turn generated ids into strings; pass one, or give ids as `sources`."
            )
        source_ids = _pad_to_multiple(source_ids, 8, self.backbone.sequence_length)
        prompt = generation.pad_rows([[self._start_id(start_id)]] * len(source_ids), max_length)
        end_id = generation.end_token_id(target_tokenizer, stop_at_end)
        generated = self._compiled_loops.get(sampler, end_id)(source_ids.astype("int32"), prompt)
        return generation.finish(
            ops.convert_to_numpy(generated), np.ones(len(prompt), int), end_id,
            target_tokenizer if strings else None,
        )

    def _start_id(self, start_id):
        if start_id is not None:
            return start_id
        if self.output_tokenizer is None:
            raise ValueError(
                "Without a target tokenizer, pass `start_id` (the `[CLS]` id the decoder "
                "inputs of training started with)."
            )
        return self.output_tokenizer.cls_id

    def _encode_sources(self, texts, truncate=False):
        tokenizer = generation.require_tokenizer(
            self.tokenizer, "sources", "the model's `tokenizer`"
        )
        rows = tokenizer(list(texts)).to_list()
        longest = self.backbone.sequence_length - 2
        too_long = [i for i, row in enumerate(rows) if len(row) > longest]
        if truncate:
            rows = [row[:longest] for row in rows]
        elif too_long:
            raise ValueError(
                f"Source {too_long[0]} is {len(rows[too_long[0]])} pieces long; the encoder "
                f"takes at most {longest} between [CLS] and [SEP] (`sequence_length` "
                f"{self.backbone.sequence_length})."
            )
        framed = [[tokenizer.cls_id, *row, tokenizer.sep_id] for row in rows]
        return generation.pad_rows(framed, max(map(len, framed)))

    def evaluate_bleu(self, sources, references, batch_size=64, **generate_kwargs):
        """Corpus BLEU (sacrebleu, its default 13a tokenization) of `generate(sources)`.

        The references are first passed through the target tokenizer and back, as the
        hypotheses are: BLEU then compares texts with the same normalization (the tokenizer's
        lower-casing and accent stripping, if it does them, and its spacing around
        punctuation: `"¿Dónde está?"` comes back as `"¿ donde esta ?"` from a lower-casing
        tokenizer), so it scores the model's choice of pieces, not the tokenizer's
        normalization. Pieces the vocabulary cannot spell come back as `[UNK]` on both sides.

        Args:
            sources: list of str; those longer than the encoder takes are truncated, as in
                training.
            references: list of str, one reference translation per source.
            batch_size: sources decoded per call.
            **generate_kwargs: passed to `generate` (`sampler`, `max_length`).

        Returns:
            dict with `"bleu"` (0-100), `"hypotheses"`, the normalized `"references"` and
            sacrebleu's `"signature"`.
        """
        import sacrebleu

        if len(sources) != len(references):
            raise ValueError(
                f"`sources` ({len(sources)}) and `references` ({len(references)}) must have the "
                "same length."
            )
        hypotheses = []
        for start in range(0, len(sources), batch_size):
            hypotheses += self.generate(
                sources[start : start + batch_size], truncate=True, **generate_kwargs
            )
        target_tokenizer = self.output_tokenizer
        references = generation.detokenize(target_tokenizer, target_tokenizer(list(references)))
        bleu = sacrebleu.metrics.BLEU()
        score = bleu.corpus_score(hypotheses, [references])
        return {
            "bleu": score.score,
            "hypotheses": hypotheses,
            "references": references,
            "signature": str(bleu.get_signature()),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_decoder_layers": self.num_decoder_layers,
                "target_vocabulary_size": self.target_vocabulary_size,
                "target_sequence_length": self.target_sequence_length,
            }
        )
        if self.target_tokenizer is not None:
            config["target_tokenizer"] = keras.saving.serialize_keras_object(
                self.target_tokenizer
            )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("target_tokenizer") is not None:
            config["target_tokenizer"] = keras.saving.deserialize_keras_object(
                config["target_tokenizer"]
            )
        return super().from_config(config)


def _pad_to_multiple(ids, multiple, limit):
    """`ids` `(batch, length)` 0-padded on the right to a multiple of `multiple` (at most
    `limit`, or `length` if longer): fewer distinct shapes to compile a loop for."""
    length = ids.shape[1]
    target = max(length, min(-(-length // multiple) * multiple, limit))
    return np.pad(ids, ((0, 0), (0, target - length)))
