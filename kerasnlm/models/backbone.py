import keras
from keras import ops

from kerasnlm.layers.dropout import Dropout
from kerasnlm.layers.fused_dense import FusedDense
from kerasnlm.layers.multi_head_attention import POSITION_BIASES
from kerasnlm.layers.token_and_position_embedding import TokenAndPositionEmbedding
from kerasnlm.layers.transformer_encoder import TransformerEncoder
from kerasnlm.models import generation
from kerasnlm.models.model import Model
from kerasnlm.utils import arguments
from kerasnlm.utils.activations import get_activation
from kerasnlm.utils.checks import check_token_ids
from kerasnlm.utils.checks import poison_out_of_range
from kerasnlm.utils.memory import check_weights_fit


def new_inputs(num_segments=0):
    """Fresh `keras.Input`s for the backbone's inputs: `token_ids`, `padding_mask`, and
    `segment_ids` when there are segment embeddings."""
    names = ("token_ids", "padding_mask") + (("segment_ids",) if num_segments else ())
    return {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in names}


@keras.saving.register_keras_serializable(package="kerasnlm")
class TransformerBackbone(Model):
    """A Transformer encoder: token and position embedding, then a stack of encoder blocks.

    The network every kerasnlm model is built on. Pretraining heads tie their output
    projection to `token_embedding`, and task models reuse the same layers by reference, so a
    backbone is shared, never copied.

    The options a BERT checkpoint needs (`num_segments`, `normalize_embeddings`,
    `use_pooler`, post-norm blocks, erf GELU, its LayerNorm epsilon) are all here, so
    `from_pretrained` loads a Hugging Face BERT folder into this same class; see
    `kerasnlm.convert.hugging_face`.

    Inputs, a dict:
        - `"token_ids"`: int `(batch, length)`, `length <= sequence_length`, ids in
          `[0, vocabulary_size)`, 0 = padding.
        - `"padding_mask"`: bool or int `(batch, length)`, true/1 for real tokens.
        - `"segment_ids"` (only with `num_segments`): int `(batch, length)` in
          `[0, num_segments)`, which text of a pair each token belongs to; all 0 if left out.
    Outputs, a dict (float32 under mixed precision too):
        - `"sequence_output"`: `(batch, length, hidden_dim)`, one vector per token.
        - `"pooled_output"`: `(batch, hidden_dim)`, the vector of the first (`[CLS]`) token,
          through BERT's dense + tanh pooler with `use_pooler`.

    Args:
        vocabulary_size: int, size of the token vocabulary.
        sequence_length: int, the longest input accepted.
        num_layers: int, number of `TransformerEncoder` blocks.
        num_heads: int, attention heads per block; must divide `hidden_dim`.
        hidden_dim: int, size of every token vector.
        intermediate_dim: int, width of each block's feed-forward layer.
        dropout: float in [0, 1), after the embedding and inside every block.
        position_encoding: `"learned"` or `"sinusoidal"`.
        position_bias: None, or `"alibi"`: every block's attention scores also get ALiBi's
            penalty on the distance between query and key (`kerasnlm.layers.
            multi_head_attention.alibi_bias`), so attention starts out local. A masked-LM
            learns far faster with it: measured in `configs/pretrain_mlm.yaml`.
        activation: feed-forward activation (`"gelu"` is the exact erf GELU,
            `"gelu_approximate"` its tanh approximation).
        normalize_first: bool, pre-norm blocks (plus a final LayerNorm) if true, post-norm
            (BERT) if false.
        layer_norm_epsilon: float.
        num_segments: int, number of segment (BERT "token type") embeddings added to the
            token vectors; 0 for none.
        normalize_embeddings: bool, a LayerNorm on the summed embeddings (BERT).
        use_pooler: bool, `pooled_output` is `tanh(dense([CLS] vector))` (BERT) rather than
            the `[CLS]` vector itself.
        pretrained: bool, the weights are trained ones: set by `from_pretrained`,
            `from_keras_hub`, `fit` of any model built on the backbone (a pretraining run's
            included), and whenever weights are loaded into it (`load_model`,
            `load_weights`). Task models then `compile()` with the fine-tuning recipe
            (`kerasnlm.training.recipes`) instead of the from-scratch one.
        dtype: a dtype or `keras.DTypePolicy` for every layer, e.g. `"mixed_bfloat16"`.
        **kwargs: passed to `keras.Model` (`name`...).

    Example:
    ```python
    import numpy as np
    import kerasnlm as knlm

    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=1000, sequence_length=32, num_layers=2, num_heads=4,
        hidden_dim=64, intermediate_dim=128)
    outputs = backbone({
        "token_ids": np.array([[2, 15, 27, 3, 0, 0]]),
        "padding_mask": np.array([[1, 1, 1, 1, 0, 0]]),
    })
    outputs["sequence_output"].shape  # (1, 6, 64)
    outputs["pooled_output"].shape  # (1, 64)
    ```

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762)
        - [Devlin et al., 2019](https://arxiv.org/abs/1810.04805)
    """

    def __init__(
        self,
        vocabulary_size,
        sequence_length,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        dropout=0.1,
        position_encoding="learned",
        position_bias=None,
        activation="gelu",
        normalize_first=False,
        layer_norm_epsilon=1e-5,
        num_segments=0,
        normalize_embeddings=False,
        use_pooler=False,
        pretrained=False,
        dtype=None,
        **kwargs,
    ):
        arguments.positive_integer("num_layers", num_layers)
        arguments.positive_integer("hidden_dim", hidden_dim)
        arguments.positive_integer("num_heads", num_heads)
        if hidden_dim % num_heads:
            raise ValueError(
                f"`hidden_dim` ({hidden_dim}) must be divisible by `num_heads` ({num_heads})."
            )
        arguments.integer_at_least("num_segments", num_segments, 0)
        arguments.positive_integer("intermediate_dim", intermediate_dim)
        arguments.one_of("position_bias", position_bias, POSITION_BIASES)
        vocabulary_size = arguments.positive_integer("vocabulary_size", vocabulary_size)
        sequence_length = arguments.positive_integer("sequence_length", sequence_length)
        block = 4 * hidden_dim * hidden_dim + 2 * hidden_dim * intermediate_dim
        check_weights_fit(
            f"TransformerBackbone(vocabulary_size={vocabulary_size}, sequence_length="
            f"{sequence_length}, num_layers={num_layers}, hidden_dim={hidden_dim}, "
            f"intermediate_dim={intermediate_dim})",
            num_layers * block
            + hidden_dim * (vocabulary_size + sequence_length + num_segments + hidden_dim),
        )

        # === Layers ===
        self.embedding = TokenAndPositionEmbedding(
            vocabulary_size,
            sequence_length,
            hidden_dim,
            position_encoding=position_encoding,
            dtype=dtype,
            name="embedding",
        )
        self.segment_embedding = (
            keras.layers.Embedding(
                num_segments,
                hidden_dim,
                embeddings_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
                dtype=dtype,
                name="segment_embedding",
            )
            if num_segments
            else None
        )
        self.embedding_norm = (
            keras.layers.LayerNormalization(
                epsilon=layer_norm_epsilon, dtype=dtype, name="embedding_norm"
            )
            if normalize_embeddings
            else None
        )
        self.embedding_dropout = Dropout(
            dropout, dtype=dtype, name="embedding_dropout"
        )
        self.encoder_layers = [
            TransformerEncoder(
                num_heads,
                intermediate_dim,
                dropout=dropout,
                activation=activation,
                normalize_first=normalize_first,
                layer_norm_epsilon=layer_norm_epsilon,
                position_bias=position_bias,
                dtype=dtype,
                name=f"encoder_{i}",
            )
            for i in range(num_layers)
        ]
        # Pre-norm blocks leave the residual stream un-normalized; GPT-2 adds one final norm.
        self.final_norm = (
            keras.layers.LayerNormalization(
                epsilon=layer_norm_epsilon, dtype=dtype, name="final_norm"
            )
            if normalize_first
            else None
        )
        self.pooler_dense = (
            FusedDense(hidden_dim, activation="tanh", dtype=dtype, name="pooler_dense")
            if use_pooler
            else None
        )

        # === Functional graph ===
        inputs = new_inputs(num_segments)
        x = self.encode_inputs(inputs)
        super().__init__(
            inputs=inputs,
            outputs={"sequence_output": x, "pooled_output": self.pool(x)},
            **kwargs,
        )
        # A Functional model ignores `dtype`; record the layers' policy so `get_config` (and
        # the heads that models build on this backbone) carry it.
        self.dtype_policy = self.embedding.dtype_policy

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.position_encoding = position_encoding
        self.position_bias = position_bias
        self.activation = activation
        self.normalize_first = normalize_first
        self.layer_norm_epsilon = layer_norm_epsilon
        self.num_segments = num_segments
        self.normalize_embeddings = normalize_embeddings
        self.use_pooler = use_pooler
        self.pretrained = bool(pretrained)

    def load_own_variables(self, store):
        # Called for the backbone whenever Keras loads weights into it (`load_model` of the
        # backbone or of a task model holding it, `load_weights`): they are trained weights.
        super().load_own_variables(store)
        self.pretrained = True

    def encode(
        self, token_ids, padding_mask=None, use_causal_mask=False, cache=None, cache_index=0,
        segment_ids=None, training=None, return_attention_scores=False, output_positions=None,
    ):
        """Runs the backbone's layers; what the Functional graph and every model built on the
        backbone call, so they all share these layers.

        Args:
            token_ids: int `(batch, length)`.
            padding_mask: `(batch, length)`, true/1 for real tokens.
            use_causal_mask: attend only to earlier positions (causal language modelling).
            cache: float `(batch, num_layers, 2, num_heads, max_length, head_dim)` keys and values
                of the positions decoded so far (see `initial_cache`); implies causal attention.
            cache_index: position of `token_ids[:, 0]` when decoding with `cache`.
            segment_ids: int `(batch, length)`, or None for segment 0 everywhere (ignored
                without `num_segments`).
            return_attention_scores: also return each block's attention weights (without a
                cache), for inspection (`kerasnlm.analysis.attention_maps`).
            output_positions: int `(batch, n)`: return only the vectors at these positions,
                `(batch, n, hidden_dim)`. The same numbers as indexing the full output, but the
                last block computes only these (a masked-LM head reads 15% of the positions).
                With `return_attention_scores`, the last block's weights are then
                `(batch, num_heads, n, length)`.

        Returns:
            float32 `(batch, length, hidden_dim)` (`(batch, n, hidden_dim)` with
            `output_positions`); and the updated cache when `cache` is given,
            or the list of float32 `(batch, num_heads, length, length)` attention weights of
            every block with `return_attention_scores`.
        """
        if cache is not None and return_attention_scores:
            raise ValueError("`return_attention_scores` is not supported with a `cache`.")
        if cache is not None and padding_mask is not None:
            raise ValueError("`padding_mask` is not supported with a key/value `cache`.")
        x = self.embed(token_ids, segment_ids, cache_index=cache_index, training=training)

        last = len(self.encoder_layers) - 1
        if output_positions is not None and cache is not None:
            raise ValueError("`output_positions` is not supported with a key/value `cache`.")

        def block(i, encoder, x, layer_cache):
            if layer_cache is not None:
                return encoder(x, cache=layer_cache, cache_index=cache_index)
            return encoder(
                x, padding_mask=padding_mask, use_causal_mask=use_causal_mask,
                training=training, return_attention_scores=return_attention_scores,
                query_positions=output_positions if i == last else None,
            )

        return generation.run_blocks(
            self.encoder_layers, x, block, cache=cache, final_norm=self.final_norm,
            collect=return_attention_scores,
        )

    def embed(self, token_ids, segment_ids=None, cache_index=0, training=None):
        """The vectors the first block reads: token and position embeddings, plus segment
        embeddings (with `num_segments`), normalized (with `normalize_embeddings`), after
        dropout. Shared with whatever else reads this backbone's embeddings, such as an
        ELECTRA generator.

        Args:
            token_ids: int `(batch, length)`.
            segment_ids: int `(batch, length)`, or None for segment 0 everywhere (ignored
                without `num_segments`).
            cache_index: position of `token_ids[:, 0]`.
            training: bool, apply dropout.

        Returns:
            `(batch, length, hidden_dim)` in the compute dtype.
        """
        x = self.embedding(token_ids, start_index=cache_index)
        if self.segment_embedding is not None:
            if segment_ids is None:
                segment_ids = ops.zeros_like(token_ids)
            else:
                segment_ids = check_token_ids(
                    segment_ids, self.segment_embedding.input_dim, name="segment_ids",
                    bound_name="`num_segments`",
                )
            x = x + poison_out_of_range(
                self.segment_embedding(segment_ids), segment_ids, self.segment_embedding.input_dim
            )
        if self.embedding_norm is not None:
            x = self.embedding_norm(x)
        return self.embedding_dropout(x, training=training)

    def new_inputs(self):
        """Fresh `keras.Input`s for a model built on this backbone: `token_ids`,
        `padding_mask`, and `segment_ids` with `num_segments`."""
        return new_inputs(self.num_segments)

    def encode_inputs(self, inputs, **kwargs):
        """`encode` on a dict of `new_inputs()` (extra keys ignored); `kwargs` go to `encode`."""
        return self.encode(
            inputs["token_ids"], inputs["padding_mask"], segment_ids=inputs.get("segment_ids"),
            **kwargs,
        )

    def pool(self, sequence_output):
        """`(batch, length, hidden)` -> the `(batch, hidden)` `pooled_output`: the first
        token's vector, through the pooler with `use_pooler`."""
        first = sequence_output[:, 0, :]
        return first if self.pooler_dense is None else ops.cast(self.pooler_dense(first), "float32")

    def initial_cache(self, batch_size, max_length):
        """An empty key/value cache for decoding up to `max_length` positions."""
        return generation.empty_cache(
            batch_size, self.num_layers, self.num_heads, max_length,
            self.hidden_dim // self.num_heads, self.embedding.compute_dtype,
        )

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        """A backbone with the weights of a local Hugging Face BERT folder.

        Reads `config.json` and `model.safetensors` (numpy, no torch) and reproduces BERT:
        segment embeddings, LayerNorm after the embeddings, post-norm blocks, the folder's
        activation (`"gelu"` is the exact erf GELU) and LayerNorm epsilon, and the pooler when
        the folder has one. Every tensor is checked by name and shape first; one error names
        all missing, unexpected and mis-shaped tensors. Pair it with
        `WordPieceTokenizer.from_pretrained(path)`.

        Args:
            path: the folder (a sentence-transformers folder holds one at its top).
            **kwargs: backbone arguments to override, e.g. `dropout` or `dtype`.

        Example:
        ```python
        backbone = knlm.models.TransformerBackbone.from_pretrained("all-MiniLM-L6-v2/")
        classifier = knlm.models.SequenceClassifier(backbone, num_classes=2)
        ```
        """
        from kerasnlm.convert import hugging_face

        backbone = hugging_face.from_pretrained(cls, path, **kwargs)
        backbone.pretrained = True
        return backbone

    @classmethod
    def from_keras_hub(cls, backbone_or_preset, **kwargs):
        """The same network as a keras-hub `BertBackbone`, given the object or the path of a
        local preset folder (`save_to_preset`) or BERT folder keras-hub reads.

        The result computes what keras-hub computes, including its tanh approximation of GELU;
        pass `activation="gelu"` for original BERT's exact one (what `from_pretrained` gives).
        Task models built on it fine-tune like any backbone; pair it with
        `WordPieceTokenizer(keras_hub_tokenizer.get_vocabulary())`.

        Args:
            backbone_or_preset: a `keras_hub.models.BertBackbone`, or a preset folder path.
            **kwargs: backbone arguments to override, e.g. `activation`, `dropout`, `dtype`.
        """
        from kerasnlm.convert import keras_hub_models

        backbone = keras_hub_models.from_keras_hub(cls, backbone_or_preset, **kwargs)
        backbone.pretrained = True
        return backbone

    def save_pretrained(self, path, tokenizer=None):
        """Writes the backbone as a Hugging Face BERT folder (`config.json`,
        `model.safetensors`, and the tokenizer's files when given) that `from_pretrained` and
        transformers' `BertModel.from_pretrained` load. Needs BERT's layout: learned
        positions, `normalize_embeddings=True`, post-norm blocks. Without a pooler, transformers
        initializes its pooler at random (and says so)."""
        from kerasnlm.convert import hugging_face

        hugging_face.save_pretrained(self, path, tokenizer)

    @property
    def token_embedding(self):
        """The `keras.layers.Embedding` whose `embeddings` matrix output heads tie to."""
        return self.embedding.token_embedding

    def token_id_limits(self):
        limits = {"token_ids": (self.vocabulary_size, self.sequence_length)}
        if self.num_segments:
            limits["segment_ids"] = (self.num_segments, self.sequence_length, "`num_segments`")
        return limits

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "position_encoding": self.position_encoding,
            "position_bias": self.position_bias,
            "activation": (
                self.activation if isinstance(self.activation, str)
                else keras.activations.serialize(get_activation(self.activation))
            ),
            "normalize_first": self.normalize_first,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "num_segments": self.num_segments,
            "normalize_embeddings": self.normalize_embeddings,
            "use_pooler": self.use_pooler,
            "pretrained": self.pretrained,
            # Frozen parts stay frozen after `load_model` (and the optimizer state saved for the
            # trainable rest then fits the reloaded model).
            "frozen_layers": [layer.name for layer in self._parts() if not layer.trainable],
        }

    def _parts(self):
        optional = [self.segment_embedding, self.embedding_norm, self.final_norm, self.pooler_dense]
        return [self.embedding, *self.encoder_layers] + [p for p in optional if p is not None]

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        frozen = config.pop("frozen_layers", [])
        backbone = cls(**config)
        for layer in backbone._parts():
            if layer.name in frozen:
                layer.trainable = False
        return backbone
