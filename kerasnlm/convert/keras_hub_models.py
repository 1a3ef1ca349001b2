"""keras-hub's `BertBackbone` -> `TransformerBackbone`, so keras-hub work moves over.

keras-hub's BERT is our backbone with `num_segments`, `normalize_embeddings`, `use_pooler`,
post-norm blocks, LayerNorm epsilon 1e-12 and the tanh approximation of GELU. Which of its
variables make each of ours is `weight_map`'s shared description of BERT; `KerasHubBertLayout`
adds keras-hub's variable paths and merges the heads axis of its attention kernels (one
`(hidden, heads, head_dim)` kernel per query, key and value, concatenated into our fused
projection). The converted backbone computes what the keras-hub one computes; pass
`activation="gelu"` to compute original BERT's exact GELU instead.
"""

import keras

from kerasnlm.convert import weight_map

KERAS_HUB_EPSILON = 1e-12  # fixed inside keras_hub.models.BertBackbone
# What `from_keras_hub` may change; the rest of the layout is the source's.
OVERRIDABLE = ("activation", "dropout", "dtype", "name")


class KerasHubBertLayout(weight_map.CheckpointLayout):
    """keras-hub `BertBackbone` variable paths (without the model's name); its attention keeps
    heads as an axis: `(hidden, heads, head_dim)` query, key and value kernels, `(heads,
    head_dim)` biases and a `(heads, head_dim, hidden)` output kernel."""

    layer_names = {
        "token_embedding": "token_embedding",
        "position_embedding": "position_embedding",
        "segment_embedding": "segment_embedding",
        "embedding_norm": "embeddings_layer_norm",
        "query": "transformer_layer_{i}/self_attention_layer/query",
        "key": "transformer_layer_{i}/self_attention_layer/key",
        "value": "transformer_layer_{i}/self_attention_layer/value",
        "attention_output": "transformer_layer_{i}/self_attention_layer/attention_output",
        "attention_norm": "transformer_layer_{i}/self_attention_layer_norm",
        "intermediate": "transformer_layer_{i}/feedforward_intermediate_dense",
        "output": "transformer_layer_{i}/feedforward_output_dense",
        "output_norm": "transformer_layer_{i}/feedforward_layer_norm",
        "pooler": "pooled_dense",
    }

    def __init__(self, num_heads):
        self.num_heads = num_heads

    def tensor_shape(self, entry):
        shape = entry.part_shape
        if entry.parts == ("query", "key", "value"):  # their outputs split into heads
            return shape[:-1] + (self.num_heads, shape[-1] // self.num_heads)
        if entry.parts == ("attention_output",) and entry.kind == "kernel":  # its inputs
            return (self.num_heads, shape[0] // self.num_heads) + shape[1:]
        return shape

    def to_backbone(self, entry, tensor):
        # The same numbers in the same order: only the heads axis is merged.
        return keras.ops.convert_to_numpy(tensor).reshape(entry.part_shape)


def from_keras_hub(backbone_class, backbone_or_preset, **kwargs):
    """See `TransformerBackbone.from_keras_hub`."""
    import keras_hub

    unknown = sorted(set(kwargs) - set(OVERRIDABLE))
    if unknown:
        raise ValueError(
            f"`from_keras_hub` cannot change {unknown}: the keras-hub backbone fixes the layout. "
            f"It takes {list(OVERRIDABLE)}."
        )
    source = backbone_or_preset
    if not isinstance(source, keras.Model):
        source = keras_hub.models.Backbone.from_preset(source)
    if not isinstance(source, keras_hub.models.BertBackbone):
        raise ValueError(
            f"Only keras-hub's `BertBackbone` can be converted; received {type(source).__name__}."
        )
    config = source.get_config()
    arguments = dict(
        vocabulary_size=config["vocabulary_size"],
        sequence_length=config["max_sequence_length"],
        num_layers=config["num_layers"],
        num_heads=config["num_heads"],
        hidden_dim=config["hidden_dim"],
        intermediate_dim=config["intermediate_dim"],
        dropout=config["dropout"],
        activation="gelu_approximate",
        layer_norm_epsilon=KERAS_HUB_EPSILON,
        num_segments=config["num_segments"],
        normalize_embeddings=True,
        use_pooler=True,
    )
    arguments.update(kwargs)
    backbone = backbone_class(**arguments)
    theirs = {
        variable.path.removeprefix(f"{source.name}/"): variable for variable in source.weights
    }
    layout = KerasHubBertLayout(backbone.num_heads)
    plan, missing, misshaped, _ = weight_map.gather_tensors(backbone, layout, theirs)
    if missing or misshaped:
        raise ValueError(
            "The keras-hub backbone does not convert:\n"
            + weight_map.mismatch_report(missing, misshaped)
        )
    weight_map.assign(plan)
    return backbone
