"""keras-hub's `BertBackbone` -> `TransformerBackbone`, so keras-hub work moves over.

keras-hub's BERT is our backbone with `num_segments`, `normalize_embeddings`, `use_pooler`,
post-norm blocks, LayerNorm epsilon 1e-12 and the tanh approximation of GELU; its attention
keeps one `(hidden, heads, head_dim)` kernel per query, key and value, which are reshaped and
concatenated into our fused projection. The converted backbone computes what the keras-hub one
computes; pass `activation="gelu"` to compute original BERT's exact GELU instead.
"""

import keras
import numpy as np

KERAS_HUB_EPSILON = 1e-12  # fixed inside keras_hub.models.BertBackbone
# What `from_keras_hub` may change; the rest of the layout is the source's.
OVERRIDABLE = ("activation", "dropout", "dtype", "name")


def _variable_map(backbone):
    """`[(our variable, keras-hub variable paths)]`, the paths concatenated on the last axis."""
    entries = [
        (backbone.embedding.token_embedding.embeddings, ["token_embedding/embeddings"]),
        (backbone.embedding.position_embeddings, ["position_embedding/embeddings"]),
        (backbone.embedding_norm.gamma, ["embeddings_layer_norm/gamma"]),
        (backbone.embedding_norm.beta, ["embeddings_layer_norm/beta"]),
        (backbone.pooler_dense.kernel, ["pooled_dense/kernel"]),
        (backbone.pooler_dense.bias, ["pooled_dense/bias"]),
    ]
    if backbone.segment_embedding is not None:
        entries.append((backbone.segment_embedding.embeddings, ["segment_embedding/embeddings"]))
    for i, block in enumerate(backbone.encoder_layers):
        layer = f"transformer_layer_{i}"
        attention = f"{layer}/self_attention_layer"
        for ours, theirs in [
            (
                block.self_attention.query_key_value,
                [f"{attention}/{p}" for p in ("query", "key", "value")],
            ),
            (block.self_attention.output_projection, [f"{attention}/attention_output"]),
            (block.feedforward_intermediate, [f"{layer}/feedforward_intermediate_dense"]),
            (block.feedforward_output, [f"{layer}/feedforward_output_dense"]),
        ]:
            entries.append((ours.kernel, [f"{path}/kernel" for path in theirs]))
            entries.append((ours.bias, [f"{path}/bias" for path in theirs]))
        for ours, theirs in [
            (block.self_attention_norm, f"{layer}/self_attention_layer_norm"),
            (block.feedforward_norm, f"{layer}/feedforward_layer_norm"),
        ]:
            entries.append((ours.gamma, [f"{theirs}/gamma"]))
            entries.append((ours.beta, [f"{theirs}/beta"]))
    return entries


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
    plan, problems = [], []
    for variable, paths in _variable_map(backbone):
        missing = [p for p in paths if p not in theirs]
        if missing:
            problems.append(f"missing {missing}")
            continue
        part_shape = tuple(variable.shape[:-1]) + (variable.shape[-1] // len(paths),)
        parts = [keras.ops.convert_to_numpy(theirs[p]) for p in paths]
        # keras-hub keeps heads as an axis, (hidden, heads, head_dim) or (heads, head_dim,
        # hidden): same numbers, so the sizes must agree exactly.
        if any(part.size != np.prod(part_shape) for part in parts):
            problems.append(f"{paths} have shapes {[p.shape for p in parts]}, need {part_shape}")
            continue
        plan.append((variable, np.concatenate([p.reshape(part_shape) for p in parts], axis=-1)))
    if problems:
        raise ValueError("The keras-hub backbone does not convert: " + "; ".join(problems))
    for variable, value in plan:
        variable.assign(value.astype(variable.dtype))
    return backbone
