import keras
from keras import ops

from kerasnlm.distribute.losses import WeightedBinaryCrossEntropy
from kerasnlm.layers.fused_dense import FusedDense
from kerasnlm.layers.language_model_head import LanguageModelHead
from kerasnlm.layers.replaced_token_sampler import ReplacedTokenSampler
from kerasnlm.layers.replaced_token_sampler import position_hits
from kerasnlm.layers.transformer_encoder import TransformerEncoder
from kerasnlm.models.masked_language_model import MaskedLanguageModel
from kerasnlm.models.task import Task
from kerasnlm.models.task import token_prediction_loss
from kerasnlm.utils.arguments import positive_integer
from kerasnlm.utils.arguments import positive_number


@keras.saving.register_keras_serializable(package="kerasnlm")
class ElectraPretrainer(Task):
    """Replaced-token detection (ELECTRA): the backbone learns from every token, not 15%.

    A small generator (a few `TransformerEncoder` blocks reading the backbone's own embedding
    layer, with a masked-LM head tied to the same token-embedding matrix) predicts the masked
    tokens; `ReplacedTokenSampler` writes its samples into the masked positions; the backbone,
    the discriminator, then says for every token whether it was replaced. Both learn
    together: loss = generator's masked-LM cross-entropy + `discriminator_weight` x the
    discriminator's binary cross-entropy over all real tokens. Afterwards the generator is
    dropped and the backbone is fine-tuned like any other.

    The generator shares the discriminator's width (its embeddings are the backbone's), and is
    made small by depth: `generator_layers` blocks against the backbone's `num_layers`
    (Clark et al. find a generator 1/4 to 1/2 the discriminator's size works best).

    Inputs: as `MaskedLanguageModel` (from `kerasnlm.data.masked_lm_dataset`).
    Outputs, a dict: `"generator_logits"` float32 `(batch, slots, vocabulary_size)`,
    `"discriminator_logits"` float32 `(batch, length)` (> 0: "replaced"), and the int32
    `"samples"` `(batch, slots)` written into the masked positions.
    Labels: the original ids at `mask_positions`, with 0 sample weights for unused slots.

    `compile()` defaults: the loss above, AdamW, and the metrics `generator_accuracy` (of the
    masked tokens) and `discriminator_accuracy` (of all real tokens).

    Args:
        backbone: a `kerasnlm.models.TransformerBackbone`, shared by reference.
        generator_layers: int, the generator's number of blocks.
        generator_intermediate_dim: int, their feed-forward width; default the backbone's.
        discriminator_weight: float, the discriminator loss's weight (50 in the paper).
        seed: int or None, seeds the generator's samples.
        **kwargs: passed to `keras.Model` (`name`...).

    Example:
    ```python
    import kerasnlm as knlm

    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=32, num_layers=2,
        num_heads=2, hidden_dim=64, intermediate_dim=128)
    model = knlm.models.ElectraPretrainer(backbone, seed=0)
    model.compile()
    data = knlm.data.masked_lm_dataset(
        ["the movie was great .", "a dull , lifeless film ."] * 16, tokenizer,
        sequence_length=32, batch_size=8, seed=0)
    model.fit(data, epochs=1, verbose=0)
    classifier = knlm.models.SequenceClassifier(backbone, num_classes=2)  # the discriminator
    ```

    References:
        - [Clark et al., 2020](https://arxiv.org/abs/2003.10555)
    """

    def __init__(
        self,
        backbone,
        generator_layers=1,
        generator_intermediate_dim=None,
        discriminator_weight=50.0,
        seed=None,
        **kwargs,
    ):
        positive_integer("generator_layers", generator_layers)
        if generator_intermediate_dim is None:
            generator_intermediate_dim = backbone.intermediate_dim
        positive_integer("generator_intermediate_dim", generator_intermediate_dim)
        positive_number("discriminator_weight", discriminator_weight)
        settings = dict(
            dropout=backbone.dropout, activation=backbone.activation,
            normalize_first=backbone.normalize_first, position_bias=backbone.position_bias,
            layer_norm_epsilon=backbone.layer_norm_epsilon, dtype=backbone.dtype_policy,
        )

        # === Layers ===
        generator_blocks = [
            TransformerEncoder(
                backbone.num_heads, generator_intermediate_dim, name=f"generator_{i}", **settings
            )
            for i in range(generator_layers)
        ]
        generator_norm = (
            keras.layers.LayerNormalization(
                epsilon=backbone.layer_norm_epsilon, dtype=backbone.dtype_policy,
                name="generator_norm",
            )
            if backbone.normalize_first
            else None
        )
        generator_head = LanguageModelHead(
            backbone.token_embedding, transform=True,
            layer_norm_epsilon=backbone.layer_norm_epsilon, dtype=backbone.dtype_policy,
            name="generator_head",
        )
        sampler = ReplacedTokenSampler(seed=seed, name="sampler")
        discriminator_dense = FusedDense(
            backbone.hidden_dim, activation=backbone.activation, dtype=backbone.dtype_policy,
            name="discriminator_dense",
        )
        discriminator_logit = keras.layers.Dense(
            1, dtype=backbone.dtype_policy, name="discriminator_logit"
        )

        # === Functional graph ===
        inputs = backbone.new_inputs()
        inputs["mask_positions"] = keras.Input(shape=(None,), dtype="int32", name="mask_positions")
        segment_ids = inputs.get("segment_ids")
        positions = inputs["mask_positions"]
        x = backbone.embed(inputs["token_ids"], segment_ids)
        for i, block in enumerate(generator_blocks):
            # The generator predicts only the masked positions: its last block computes those.
            last = i == len(generator_blocks) - 1
            x = block(
                x, padding_mask=inputs["padding_mask"], query_positions=positions if last else None
            )
        if generator_norm is not None:
            x = generator_norm(x)
        generator_logits = generator_head(x)
        corrupted, samples = sampler(inputs["token_ids"], positions, generator_logits)
        sequence = backbone.encode(corrupted, inputs["padding_mask"], segment_ids=segment_ids)
        discriminator_logits = ops.cast(
            ops.squeeze(discriminator_logit(discriminator_dense(sequence)), -1), "float32"
        )
        outputs = {
            "generator_logits": generator_logits,
            "discriminator_logits": discriminator_logits,
            "samples": samples,
        }
        super().__init__(inputs, outputs, backbone=backbone, **kwargs)
        self.generator_blocks = generator_blocks
        self.generator_head = generator_head

        # === Config ===
        self.generator_layers = generator_layers
        self.generator_intermediate_dim = generator_intermediate_dim
        self.discriminator_weight = discriminator_weight
        self.seed = seed
        self.generator_loss = token_prediction_loss()
        self.discriminator_loss = WeightedBinaryCrossEntropy()
        self.generator_accuracy = keras.metrics.SparseCategoricalAccuracy(
            name="generator_accuracy"
        )
        self.discriminator_accuracy = keras.metrics.BinaryAccuracy(
            name="discriminator_accuracy", threshold=0.0  # on logits
        )

    token_id_limits = MaskedLanguageModel.token_id_limits

    def default_loss(self):
        return None  # `compute_loss` below

    def default_metrics(self):
        return None  # `compute_metrics` below

    def replaced_targets(self, x, y, y_pred, sample_weight=None):
        """The discriminator's labels, float32 `(batch, length)`, 1 where a sample differs from
        the original token (a sample equal to it counts as original, as in the paper), and its
        weights, 1 for every real token."""
        positions = x["mask_positions"]
        used = positions > 0 if sample_weight is None else sample_weight > 0
        replaced = ops.logical_and(y_pred["samples"] != ops.cast(y, "int32"), used)
        hits = position_hits(positions, ops.shape(x["token_ids"])[1])
        labels = ops.cast(ops.max(hits * ops.cast(replaced, "int32")[..., None], axis=1), "float32")
        return labels, ops.cast(x["padding_mask"], "float32")

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        generator_loss = self.generator_loss(y, y_pred["generator_logits"], sample_weight)
        labels, weights = self.replaced_targets(x, y, y_pred, sample_weight)
        discriminator_loss = self.discriminator_loss(
            labels, y_pred["discriminator_logits"], weights
        )
        return generator_loss + self.discriminator_weight * discriminator_loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        self.generator_accuracy.update_state(y, y_pred["generator_logits"], sample_weight)
        labels, weights = self.replaced_targets(x, y, y_pred, sample_weight)
        self.discriminator_accuracy.update_state(
            labels[..., None], y_pred["discriminator_logits"][..., None], weights
        )
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "generator_layers": self.generator_layers,
                "generator_intermediate_dim": self.generator_intermediate_dim,
                "discriminator_weight": self.discriminator_weight,
                "seed": self.seed,
            }
        )
        return config
