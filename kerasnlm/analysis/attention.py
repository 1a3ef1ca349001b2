"""Attention maps: what each head of each block looks at, as arrays and heat maps."""

import numpy as np
from keras import ops

from kerasnlm.analysis.embeddings import backbone_of


def _is_causal(model):
    from kerasnlm.models.causal_language_model import CausalLanguageModel

    return isinstance(model, CausalLanguageModel) or bool(getattr(model, "use_causal_mask", False))


def attention_maps(model, tokenizer, text, pad_to=None):
    """The attention weights of every head of every block for one text, framed `[CLS] text
    [SEP]` as the pipelines frame it (causal for a `CausalLanguageModel` or a causal
    classifier, as the model attends).

    Args:
        model: a backbone or a model built on one.
        tokenizer: its tokenizer.
        text: str.
        pad_to: optional length to pad the pieces to (padding gets and gives no attention).

    Returns:
        `(maps, pieces)`: float32 `(num_layers, num_heads, length, length)`, row `i` the
        weights query `i` gives every key (each real row sums to 1), and the `length` piece
        strings.
    """
    from kerasnlm.data.packing import pack_texts

    if not isinstance(text, str):
        raise TypeError(f"`text` must be a str; received {type(text).__name__}.")
    backbone = backbone_of(model)
    x = pack_texts(tokenizer, [text], backbone.sequence_length, pad_to_multiple_of=1)
    ids, mask = x["token_ids"].numpy(), x["padding_mask"].numpy()
    if pad_to is not None:
        if pad_to < ids.shape[1]:
            raise ValueError(
                f"`pad_to` ({pad_to}) is shorter than the text ({ids.shape[1]} pieces)."
            )
        ids = np.pad(ids, [(0, 0), (0, pad_to - ids.shape[1])])
        mask = np.pad(mask, [(0, 0), (0, pad_to - mask.shape[1])])
    _, scores = backbone.encode(
        ids, mask, use_causal_mask=_is_causal(model), return_attention_scores=True,
    )
    maps = np.stack([ops.convert_to_numpy(ops.cast(s, "float32"))[0] for s in scores])
    # Padding queries attend to nothing real: zero their rows, as their keys are zero already.
    maps = maps * mask[0][None, None, :, None]
    vocabulary = tokenizer.get_vocabulary()
    return maps.astype("float32"), [vocabulary[i] for i in ids[0]]


def plot_attention(maps, pieces, path, layer=-1, heads=None):
    """A PNG heat map per head of one block, keys across, queries down, labelled with the
    pieces."""
    from kerasnlm.analysis.plots import figure as new_figure

    maps = np.asarray(maps)
    heads = list(range(maps.shape[1])) if heads is None else list(heads)
    figure = new_figure(figsize=(4 * len(heads), 4.2))
    axes = np.atleast_1d(figure.subplots(1, len(heads)))
    for axis, head in zip(axes, heads):
        axis.imshow(maps[layer, head], cmap="viridis", vmin=0.0, vmax=1.0)
        axis.set_xticks(range(len(pieces)), pieces, rotation=90, fontsize=7)
        axis.set_yticks(range(len(pieces)), pieces, fontsize=7)
        axis.set_title(f"block {layer % maps.shape[0]}, head {head}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path
