"""Hugging Face BERT folders: read them into a `TransformerBackbone`, and write one back.

A folder holds `config.json` (a `BertConfig`), the weights in `model.safetensors` (or shards
listed in `model.safetensors.index.json`) and the tokenizer's `vocab.txt` and
`tokenizer_config.json`. Weights are read with `safetensors`' numpy API: no torch.

Which tensors of the folder make each backbone variable is `weight_map`'s shared description
of BERT; `BertLayout` adds transformers' names, and transposes the kernels (torch's `Linear`
stores its matrix as `(out, in)`). Loading checks every tensor by name and shape before
assigning anything, and names every missing, unexpected or mis-shaped tensor in one error.
"""

import json
import os
import warnings

import numpy as np

from kerasnlm.convert import weight_map

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"

# Hugging Face `hidden_act` -> our activation.
ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_new": "gelu_approximate",
    "gelu_pytorch_tanh": "gelu_approximate",
    "relu": "relu",
}
# Task heads of BERT checkpoints (BertForPreTraining's "cls.", BertForSequenceClassification's
# and BertForTokenClassification's "classifier.", BertForQuestionAnswering's "qa_outputs."): a
# backbone has no place for them, so they are skipped, with a warning.
HEAD_PREFIXES = ("cls.", "classifier.", "qa_outputs.")
IGNORED_SUFFIXES = ("position_ids",)  # a buffer of 0, 1, 2, ..., not a weight
# What `from_pretrained` may change; the rest of the layout is the checkpoint's.
OVERRIDABLE = ("dropout", "dtype", "name", "activation", "use_pooler")


def _file(path, name):
    return os.path.join(os.fspath(path), name)


def _read_json(path, name, required=True):
    file = _file(path, name)
    if not os.path.exists(file):
        if required:
            raise ValueError(f"'{path}' holds no {name}: not a Hugging Face model folder.")
        return None
    try:
        with open(file, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"'{file}' is not valid JSON: {error}.") from None


def backbone_arguments(config, path="the config"):
    """A `BertConfig` dict -> `TransformerBackbone` arguments (without `use_pooler`, which the
    weights decide). Refuses what the backbone cannot compute exactly."""
    if config.get("model_type") != "bert":
        raise ValueError(
            f"{path}: `model_type` is {config.get('model_type')!r}; only BERT checkpoints "
            "(`model_type: bert`) can be loaded."
        )
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(
            f"{path}: `position_embedding_type` {config['position_embedding_type']!r} is not "
            "supported; only learned absolute positions."
        )
    activation = config.get("hidden_act", "gelu")
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"{path}: `hidden_act` {activation!r} is not supported; one of {sorted(ACTIVATIONS)}."
        )
    missing = [
        key for key in (
            "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
            "intermediate_size", "max_position_embeddings",
        )
        if key not in config
    ]
    if missing:
        raise ValueError(f"{path} lacks {missing}.")
    return dict(
        vocabulary_size=config["vocab_size"],
        sequence_length=config["max_position_embeddings"],
        num_layers=config["num_hidden_layers"],
        num_heads=config["num_attention_heads"],
        hidden_dim=config["hidden_size"],
        intermediate_dim=config["intermediate_size"],
        dropout=config.get("hidden_dropout_prob", 0.1),
        activation=ACTIVATIONS[activation],
        layer_norm_epsilon=config.get("layer_norm_eps", 1e-12),
        num_segments=config.get("type_vocab_size", 2),
        normalize_embeddings=True,
        normalize_first=False,
        position_encoding="learned",
    )


def bert_config(backbone):
    """The `config.json` of a backbone, or a ValueError naming what BERT's layout lacks."""
    unfit = []
    if backbone.position_encoding != "learned":
        unfit.append(f"position_encoding={backbone.position_encoding!r} (BERT learns positions)")
    if backbone.position_bias is not None:
        unfit.append(f"position_bias={backbone.position_bias!r} (BERT has no attention bias)")
    if backbone.normalize_first:
        unfit.append("normalize_first=True (BERT's blocks are post-norm)")
    if not backbone.normalize_embeddings:
        unfit.append("normalize_embeddings=False (BERT normalizes the embeddings)")
    activation = {v: k for k, v in ACTIVATIONS.items() if k != "gelu_pytorch_tanh"}.get(
        backbone.activation if isinstance(backbone.activation, str) else None
    )
    if activation is None:
        unfit.append(
            f"activation={backbone.activation!r} (one of {sorted(set(ACTIVATIONS.values()))})"
        )
    if unfit:
        raise ValueError(
            "`save_pretrained` writes BERT's layout, which this backbone does not fit: "
            + "; ".join(unfit) + "."
        )
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": backbone.vocabulary_size,
        "hidden_size": backbone.hidden_dim,
        "num_hidden_layers": backbone.num_layers,
        "num_attention_heads": backbone.num_heads,
        "intermediate_size": backbone.intermediate_dim,
        "hidden_act": activation,
        "hidden_dropout_prob": backbone.dropout,
        "attention_probs_dropout_prob": backbone.dropout,
        "max_position_embeddings": backbone.sequence_length,
        # A backbone without segments reads as BERT whose two segment vectors are zero: the same
        # outputs, and text pairs still fit it after reloading.
        "type_vocab_size": backbone.num_segments or 2,
        "initializer_range": 0.02,
        "layer_norm_eps": backbone.layer_norm_epsilon,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
    }


class BertLayout(weight_map.CheckpointLayout):
    """transformers' `BertModel` names; torch's `Linear` stores its matrix as `(out, in)`."""

    layer_names = {
        "token_embedding": "embeddings.word_embeddings",
        "position_embedding": "embeddings.position_embeddings",
        "segment_embedding": "embeddings.token_type_embeddings",
        "embedding_norm": "embeddings.LayerNorm",
        "query": "encoder.layer.{i}.attention.self.query",
        "key": "encoder.layer.{i}.attention.self.key",
        "value": "encoder.layer.{i}.attention.self.value",
        "attention_output": "encoder.layer.{i}.attention.output.dense",
        "attention_norm": "encoder.layer.{i}.attention.output.LayerNorm",
        "intermediate": "encoder.layer.{i}.intermediate.dense",
        "output": "encoder.layer.{i}.output.dense",
        "output_norm": "encoder.layer.{i}.output.LayerNorm",
        "pooler": "pooler.dense",
    }
    separator = "."
    variable_names = {"kernel": "weight", "gamma": "weight", "beta": "bias", "embeddings": "weight"}

    def tensor_shape(self, entry):
        shape = entry.part_shape
        return shape[::-1] if entry.kind == "kernel" else shape

    def to_backbone(self, entry, tensor):
        return tensor.T if entry.kind == "kernel" else tensor

    def to_checkpoint(self, entry, part):
        return part.T if entry.kind == "kernel" else part


LAYOUT = BertLayout()


def _canonical_name(name):
    """Checkpoint names vary: BertForPreTraining prefixes `bert.`, old ones say gamma/beta."""
    name = name.removeprefix("bert.")
    return name.replace("LayerNorm.gamma", "LayerNorm.weight").replace(
        "LayerNorm.beta", "LayerNorm.bias"
    )


def read_tensors(path):
    """`{canonical name: numpy array}` of a folder's safetensors file(s)."""
    from safetensors.numpy import load_file

    index = _read_json(path, WEIGHTS_INDEX_FILE, required=False)
    if index is not None:
        files = sorted(set(index["weight_map"].values()))
    elif os.path.exists(_file(path, WEIGHTS_FILE)):
        files = [WEIGHTS_FILE]
    else:
        others = [f for f in ("pytorch_model.bin", "tf_model.h5") if os.path.exists(_file(path, f))]
        hint = (
            f" It holds {others[0]}, which only torch or TensorFlow's own loader reads; save "
            "it as safetensors first (`model.save_pretrained(folder, safe_serialization=True)` "
            "in transformers)." if others else ""
        )
        raise ValueError(f"'{path}' holds no {WEIGHTS_FILE}.{hint}")
    tensors = {}
    for file in files:
        try:
            loaded = load_file(_file(path, file))
        except Exception as error:  # safetensors raises its own error types
            raise ValueError(
                f"'{_file(path, file)}' cannot be read as safetensors: {error}"
            ) from None
        tensors.update({_canonical_name(name): value for name, value in loaded.items()})
    return tensors


def load_tensors(backbone, tensors, source="the checkpoint"):
    """Assigns checkpoint tensors to the backbone's variables, after checking them all.

    Raises:
        ValueError: naming every missing, unexpected and mis-shaped tensor.
    """
    plan, missing, misshaped, used = weight_map.gather_tensors(backbone, LAYOUT, tensors)
    unused = [name for name in tensors if name not in used and not name.endswith(IGNORED_SUFFIXES)]
    heads = [name for name in unused if name.startswith(HEAD_PREFIXES)]
    unexpected = [name for name in unused if name not in heads]
    if missing or misshaped or unexpected:
        raise ValueError(
            f"{source} does not match the backbone its config describes ({backbone.num_layers} "
            f"layers, hidden {backbone.hidden_dim}, vocabulary {backbone.vocabulary_size}, "
            f"{backbone.num_segments} segments, {backbone.sequence_length} positions):\n"
            + weight_map.mismatch_report(missing, misshaped, unexpected)
        )
    if heads:
        warnings.warn(
            f"{source}: skipped {len(heads)} tensors of task heads that a backbone does not hold "
            f"({', '.join(sorted(heads)[:4])}{', ...' if len(heads) > 4 else ''}).",
            stacklevel=4,  # the caller of TransformerBackbone.from_pretrained
        )
    weight_map.assign(plan)


def backbone_tensors(backbone):
    """`{name: numpy array}`: the backbone's weights in BERT's names and layouts."""
    tensors = weight_map.checkpoint_tensors(backbone, LAYOUT)
    if backbone.segment_embedding is None:
        tensors["embeddings.token_type_embeddings.weight"] = np.zeros(
            (2, backbone.hidden_dim), "float32"
        )
    return tensors


def from_pretrained(backbone_class, path, **kwargs):
    """See `TransformerBackbone.from_pretrained`."""
    if not os.path.isdir(path):
        raise ValueError(f"'{path}' is not a folder.")
    unknown = sorted(set(kwargs) - set(OVERRIDABLE))
    if unknown:
        raise ValueError(
            f"`from_pretrained` cannot change {unknown}: the checkpoint fixes the layout. It "
            f"takes {list(OVERRIDABLE)}."
        )
    config = _read_json(path, CONFIG_FILE)
    arguments = backbone_arguments(config, f"'{_file(path, CONFIG_FILE)}'")
    tensors = read_tensors(path)
    arguments["use_pooler"] = "pooler.dense.weight" in tensors
    arguments.update(kwargs)
    if not arguments["use_pooler"]:  # asked to leave the pooler out
        tensors = {k: v for k, v in tensors.items() if not k.startswith("pooler.")}
    backbone = backbone_class(**arguments)
    load_tensors(backbone, tensors, f"'{path}'")
    return backbone


def save_pretrained(backbone, path, tokenizer=None):
    """See `TransformerBackbone.save_pretrained`."""
    from safetensors.numpy import save_file

    config = bert_config(backbone)
    if tokenizer is not None and tokenizer.vocabulary_size != backbone.vocabulary_size:
        raise ValueError(
            f"The tokenizer's vocabulary ({tokenizer.vocabulary_size} tokens) does not match the "
            f"backbone's `vocabulary_size` ({backbone.vocabulary_size})."
        )
    os.makedirs(path, exist_ok=True)
    # Files of an earlier save that loaders would prefer to the ones written now.
    index = _read_json(path, WEIGHTS_INDEX_FILE, required=False)
    stale = [WEIGHTS_INDEX_FILE, *sorted(set(index["weight_map"].values()))] if index else []
    if tokenizer is not None:
        stale.append("tokenizer.json")  # transformers reads it before vocab.txt
    for name in stale:
        if os.path.exists(_file(path, name)):
            os.remove(_file(path, name))
    # transformers refuses safetensors files without this metadata.
    save_file(backbone_tensors(backbone), _file(path, WEIGHTS_FILE), metadata={"format": "pt"})
    with open(_file(path, CONFIG_FILE), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    if tokenizer is not None:
        tokenizer.save_pretrained(path, model_max_length=backbone.sequence_length)
