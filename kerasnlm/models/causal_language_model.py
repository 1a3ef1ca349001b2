import keras
import numpy as np
from keras import ops

from kerasnlm.layers.language_model_head import LanguageModelHead
from kerasnlm.models import generation
from kerasnlm.models.task import Task
from kerasnlm.models.task import raw_texts
from kerasnlm.models.task import token_prediction_loss
from kerasnlm.models.task import token_prediction_metrics


@keras.saving.register_keras_serializable(package="kerasnlm")
class CausalLanguageModel(Task):
    """Causal (GPT-style) language model: predict every next token from the tokens before it.

    Runs the backbone's own layers with a causal attention mask (the layers are shared with
    the backbone and any other model built on it, not copied) and scores each position against
    the backbone's embedding matrix, tied by reference.

    Inputs, a dict (as made by `kerasnlm.data.causal_lm_dataset`): `"token_ids"` and
    `"padding_mask"`, `(batch, length)`. Output: float32 logits `(batch, length,
    vocabulary_size)`. Labels: the next token at each position.

    `generate()` decodes one token at a time with a key/value cache, so each new token costs
    one position rather than a re-run of the prefix, using keras-hub's samplers.

    Args:
        backbone: a `kerasnlm.models.TransformerBackbone`, shared by reference.
        tokenizer: optional `kerasnlm.tokenizers.WordPieceTokenizer`; lets `generate` take and
            return strings. Saved with the model.
        **kwargs: passed to `keras.Model`.

    Example:
    ```python
    import kerasnlm as knlm

    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=32, num_layers=2,
        num_heads=2, hidden_dim=64, intermediate_dim=128)
    model = knlm.models.CausalLanguageModel(backbone, tokenizer=tokenizer)
    model.compile()
    model.generate(["the movie was"], max_length=12, sampler="greedy")  # a list of 1 string
    ```

    References:
        - [Radford et al., 2019](https://openai.com/research/better-language-models)
    """

    def __init__(self, backbone, tokenizer=None, **kwargs):
        # === Layers ===
        head = LanguageModelHead(
            backbone.token_embedding, transform=False, dtype=backbone.dtype_policy,
            name="causal_lm_head",
        )

        # === Functional graph ===
        inputs = backbone.new_inputs()
        hidden = backbone.encode_inputs(inputs, use_causal_mask=True)
        super().__init__(inputs, head(hidden), backbone=backbone, tokenizer=tokenizer, **kwargs)
        self.head = head
        self._compiled_loops = generation.CompiledLoops(self.generate_loop)

    def default_loss(self):
        return token_prediction_loss()

    def default_metrics(self):
        return token_prediction_metrics()

    # --- Generation ---

    def _next_with_cache(self, token_ids, cache, index):
        """Logits for position `index` given everything before it, one position of work."""
        previous = generation.token_before(token_ids, index)
        hidden, cache = self.backbone.encode(previous, cache=cache, cache_index=index - 1)
        logits = generation.allowed_logits(self.head(hidden)[:, 0], self.tokenizer)
        return logits, hidden[:, 0], cache

    def _next_without_cache(self, token_ids, cache, index):
        """The same logits by re-running the whole prefix (for checking the cache)."""
        # Attend to every position, as the cache does (no Keras mask from zeros after the
        # prompt: the causal mask already hides them).
        hidden = self.backbone.encode(
            token_ids, padding_mask=ops.ones_like(token_ids), use_causal_mask=True
        )
        hidden = ops.take(hidden, index - 1, axis=1)
        logits = self.head(hidden[:, None])[:, 0]
        return generation.allowed_logits(logits, self.tokenizer), hidden, cache

    def generate_loop(self, sampler, stop_token_ids, use_cache=True):
        """The decoding loop as a plain function `(token_ids, prompt_mask, start) -> ids`:
        `generate` XLA-compiles it, `kerasnlm.export` traces it into a SavedModel."""

        def generate(token_ids, prompt_mask, start):
            cache = None
            if use_cache:
                batch, length = ops.shape(token_ids)
                _, cache = self.backbone.encode(
                    token_ids, cache=self.backbone.initial_cache(batch, length)
                )
            return sampler(
                next=self._next_with_cache if use_cache else self._next_without_cache,
                prompt=token_ids, cache=cache, index=start, mask=prompt_mask,
                stop_token_ids=stop_token_ids, model=self,
            )

        return generate

    def generate(
        self, prompts, max_length=None, sampler="top_k", tokenizer=None, use_cache=True,
        stop_at_end=True, truncate=False,
    ):
        """Continues each prompt until `max_length` tokens or the end-of-text token (`[SEP]`).

        Args:
            prompts: list of str (needs a tokenizer), or an int array `(batch, prompt_length)`
                of token ids (0-padded on the right).
            max_length: total tokens (prompt + generated); defaults to the backbone's
                `sequence_length`, which it may not exceed.
            sampler: `"greedy"`, `"top_k"`, `"top_p"`, `"beam"`, `"random"`, or a
                `keras_hub.samplers.Sampler` (e.g. `TopKSampler(k=10, seed=0)`).
            tokenizer: overrides the model's tokenizer.
            use_cache: decode with the key/value cache (set False only to check it).
            stop_at_end: stop a row at the end-of-text token (`[SEP]`; needs a tokenizer).
            truncate: keep the first `max_length - 1` pieces of a longer string prompt (as an
                exported model does), instead of raising.

        An empty string prompt starts from the end-of-text token `[SEP]`, which separates
        documents in the causal-LM pipeline: the model writes a new text.

        Returns:
            list of str when prompts are strings, else an int32 numpy array
            `(batch, max_length)` (0 after the end).
        """
        tokenizer = tokenizer or self.tokenizer
        max_length = generation.check_max_length(
            max_length, self.backbone.sequence_length, "sequence_length"
        )
        sampler = generation.get_sampler(sampler)
        texts = raw_texts(prompts, "prompts")
        if texts == []:
            return []
        strings = texts is not None
        prompts = texts if strings else prompts
        token_ids, lengths = self._prompt_ids(prompts, strings, tokenizer, max_length, truncate)
        end_id = generation.end_token_id(tokenizer, stop_at_end)
        loop = self._compiled_loops.get(sampler, end_id, use_cache)
        generated = np.zeros_like(token_ids)
        for group in generation.start_groups(lengths, sampler):
            start = ops.convert_to_tensor(int(lengths[group].min()), "int32")
            ids = token_ids[group]
            generated[group] = ops.convert_to_numpy(loop(ids, ids != 0, start))
        return generation.finish(generated, lengths, end_id, tokenizer if strings else None)

    def _prompt_ids(self, prompts, strings, tokenizer, max_length, truncate):
        """The prompts as an int32 `(batch, max_length)` array, 0-padded, and their lengths."""
        if strings:
            tokenizer = generation.require_tokenizer(
                tokenizer, "prompts", "a tokenizer: pass `tokenizer=`"
            )
            rows = [list(map(int, row)) or [tokenizer.sep_id]
                    for row in tokenizer(list(prompts)).to_list()]
            if truncate:
                rows = [row[: max_length - 1] for row in rows]
        else:
            ids = generation.checked_ids(prompts, self.backbone.vocabulary_size, "prompts")
            rows = [row[:length] for row, length in zip(ids, generation.prompt_lengths(ids))]
        lengths = np.array([len(row) for row in rows])
        if not rows or lengths.min() == 0:
            raise ValueError("Every prompt must hold at least one token.")
        if lengths.max() >= max_length:
            raise ValueError(
                f"A prompt is {lengths.max()} tokens long, which leaves no room to generate "
                f"within `max_length` ({max_length}); the model's `sequence_length` is "
                f"{self.backbone.sequence_length}."
            )
        return generation.pad_rows(rows, max_length), lengths
