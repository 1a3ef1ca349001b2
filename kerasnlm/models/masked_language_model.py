import keras

from kerasnlm.layers.language_model_head import LanguageModelHead
from kerasnlm.models.task import Task
from kerasnlm.models.task import token_prediction_loss
from kerasnlm.models.task import token_prediction_metrics


@keras.saving.register_keras_serializable(package="kerasnlm")
class MaskedLanguageModel(Task):
    """Masked-language-model pretraining (BERT): predict the tokens hidden at `mask_positions`.

    The backbone encodes the corrupted sequence; the vectors at the masked positions go
    through a dense + GELU + LayerNorm transform and are scored against every token with the
    backbone's own embedding matrix (transposed, tied by reference) plus a bias. Only masked
    positions are predicted, so only they cost a vocabulary-sized product.

    Inputs, a dict (as made by `kerasnlm.data.masked_lm_dataset`):
        - `"token_ids"`, `"padding_mask"`: `(batch, length)`, as for the backbone.
        - `"mask_positions"`: int `(batch, num_predictions)`, positions in `[0, length)`.
    Output: float32 logits `(batch, num_predictions, vocabulary_size)`.
    Labels: the original ids at `mask_positions`; sample weights 0 for unused prediction slots.

    `compile()` defaults: sparse categorical cross-entropy on logits, AdamW, and the weighted
    metrics `accuracy` (of masked tokens) and `perplexity` (keras-hub's, on masked tokens).

    Args:
        backbone: a `kerasnlm.models.TransformerBackbone`, shared by reference.
        **kwargs: passed to `keras.Model` (`name`...).

    Example:
    ```python
    import kerasnlm as knlm

    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=32, num_layers=2,
        num_heads=2, hidden_dim=64, intermediate_dim=128)
    model = knlm.models.MaskedLanguageModel(backbone)
    model.compile()
    data = knlm.data.masked_lm_dataset(
        ["the movie was great .", "a dull , lifeless film ."] * 16, tokenizer,
        sequence_length=32, batch_size=8, seed=0)
    model.fit(data, epochs=1, verbose=0)
    assert model.head.token_embedding is backbone.token_embedding  # tied, not copied
    ```

    References:
        - [Devlin et al., 2019](https://arxiv.org/abs/1810.04805)
    """

    def __init__(self, backbone, **kwargs):
        # === Layers ===
        head = LanguageModelHead(
            backbone.token_embedding,
            transform=True,
            layer_norm_epsilon=backbone.layer_norm_epsilon,
            dtype=backbone.dtype_policy,
            name="masked_lm_head",
        )

        # === Functional graph ===
        inputs = backbone.new_inputs()
        inputs["mask_positions"] = keras.Input(shape=(None,), dtype="int32", name="mask_positions")
        # Only the masked positions are predicted, so the last block computes only those.
        masked = backbone.encode_inputs(inputs, output_positions=inputs["mask_positions"])
        super().__init__(inputs, head(masked), backbone=backbone, **kwargs)
        self.head = head

    def token_id_limits(self):
        return {
            **self.backbone.token_id_limits(),
            "mask_positions": ("token_ids", None, "the length of `token_ids`"),
        }

    def default_loss(self):
        return token_prediction_loss()

    def default_metrics(self):
        return token_prediction_metrics()
