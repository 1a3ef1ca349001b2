"""How a `TransformerBackbone`'s variables correspond to a BERT checkpoint's tensors.

Every BERT checkpoint is made of the same parts: the token, position and segment embeddings and
their LayerNorm; in each encoder layer the query, key and value projections, the attention
output, its LayerNorm, the two feed-forward projections and the LayerNorm after them; and the
pooler. `weight_entries` walks a backbone once and says which part(s) each variable is made
of: our fused query-key-value projection is the query, key and value concatenated on the last
axis. A converter subclasses `CheckpointLayout` for what is its own: the names of the parts and
how its tensors are laid out (torch's `(out, in)` matrices, keras-hub's per-head kernels).
`gather_tensors` and `checkpoint_tensors` then move weights in and out with that layout.
"""

import dataclasses

import keras
import numpy as np

# The parts of BERT a `CheckpointLayout` names; the per-layer ones hold "{i}", the layer index.
PARTS = (
    "token_embedding", "position_embedding", "segment_embedding", "embedding_norm",
    "query", "key", "value", "attention_output", "attention_norm",
    "intermediate", "output", "output_norm", "pooler",
)
# A mismatch error lists this many names of each kind, then how many more there are.
SHOWN_NAMES = 12


@dataclasses.dataclass(frozen=True)
class WeightEntry:
    """One backbone variable and the parts of BERT it is made of.

    Attributes:
        variable: the backbone's `keras.Variable`.
        kind: what the variable is in its layer: "kernel", "bias", "gamma", "beta" or
            "embeddings".
        parts: names from `PARTS`, one per tensor, concatenated on the last axis.
        layer_index: the encoder layer the parts belong to, `None` outside the encoder.
    """

    variable: keras.Variable
    kind: str
    parts: tuple
    layer_index: int | None = None

    @property
    def part_shape(self):
        """Our shape of each of the tensors concatenated into `variable`."""
        shape = tuple(self.variable.shape)
        return shape[:-1] + (shape[-1] // len(self.parts),)


def weight_entries(backbone):
    """`[WeightEntry]` of every variable of a BERT-shaped `TransformerBackbone`."""
    entries = []

    def dense(layer, *parts, index=None):
        entries.append(WeightEntry(layer.kernel, "kernel", parts, index))
        entries.append(WeightEntry(layer.bias, "bias", parts, index))

    def norm(layer, part, index=None):
        entries.append(WeightEntry(layer.gamma, "gamma", (part,), index))
        entries.append(WeightEntry(layer.beta, "beta", (part,), index))

    embedding = backbone.embedding
    entries.append(
        WeightEntry(embedding.token_embedding.embeddings, "embeddings", ("token_embedding",))
    )
    entries.append(
        WeightEntry(embedding.position_embeddings, "embeddings", ("position_embedding",))
    )
    if backbone.segment_embedding is not None:
        entries.append(
            WeightEntry(
                backbone.segment_embedding.embeddings, "embeddings", ("segment_embedding",)
            )
        )
    norm(backbone.embedding_norm, "embedding_norm")
    for i, block in enumerate(backbone.encoder_layers):
        dense(block.self_attention.query_key_value, "query", "key", "value", index=i)
        dense(block.self_attention.output_projection, "attention_output", index=i)
        norm(block.self_attention_norm, "attention_norm", index=i)
        dense(block.feedforward_intermediate, "intermediate", index=i)
        dense(block.feedforward_output, "output", index=i)
        norm(block.feedforward_norm, "output_norm", index=i)
    if backbone.pooler_dense is not None:
        dense(backbone.pooler_dense, "pooler")
    return entries


class CheckpointLayout:
    """A checkpoint format's names and tensor layouts for the parts of BERT.

    Subclasses set `layer_names` (every name of `PARTS` -> the checkpoint's layer name, "{i}"
    standing for the encoder layer), `separator` (between a layer's name and its variable's)
    and `variable_names` (our variable kinds -> the checkpoint's, where they differ); they
    override the three layout methods where the checkpoint does not store our shapes.
    """

    layer_names = {}
    separator = "/"
    variable_names = {}

    def tensor_names(self, entry):
        """The checkpoint's names of the tensors that make `entry.variable`, in order."""
        kind = self.variable_names.get(entry.kind, entry.kind)
        return [
            self.layer_names[part].format(i=entry.layer_index) + self.separator + kind
            for part in entry.parts
        ]

    def tensor_shape(self, entry):
        """The checkpoint's shape of each tensor that makes `entry.variable`."""
        return entry.part_shape

    def to_backbone(self, entry, tensor):
        """A checkpoint tensor (of `tensor_shape`) -> a numpy array of `entry.part_shape`."""
        return keras.ops.convert_to_numpy(tensor)

    def to_checkpoint(self, entry, part):
        """A numpy array of `entry.part_shape` -> the checkpoint's tensor."""
        return part


def gather_tensors(backbone, layout, tensors):
    """Checks the checkpoint tensors of every backbone variable and puts them in our layout.

    Args:
        backbone: the `TransformerBackbone` the tensors are for.
        layout: the checkpoint's `CheckpointLayout`.
        tensors: `{checkpoint name: tensor}`, anything with a `shape` that `layout` converts.

    Returns:
        `(plan, missing, misshaped, used)`: `[(variable, numpy value)]` for every variable
        whose tensors all fit, the names of missing tensors, one "name is (shape), expected
        (shape)" line per mis-shaped tensor, and the set of every name the backbone reads.
    """
    plan, missing, misshaped, used = [], [], [], set()
    for entry in weight_entries(backbone):
        expected = tuple(layout.tensor_shape(entry))
        parts = []
        for name in layout.tensor_names(entry):
            used.add(name)
            if name not in tensors:
                missing.append(name)
            elif tuple(tensors[name].shape) != expected:
                misshaped.append(f"{name} is {tuple(tensors[name].shape)}, expected {expected}")
            else:
                parts.append(layout.to_backbone(entry, tensors[name]))
        if len(parts) == len(entry.parts):
            plan.append((entry.variable, np.concatenate(parts, axis=-1)))
    return plan, missing, misshaped, used


def checkpoint_tensors(backbone, layout):
    """`{checkpoint name: numpy array}` of every backbone variable, in `layout`."""
    tensors = {}
    for entry in weight_entries(backbone):
        value = keras.ops.convert_to_numpy(entry.variable)
        parts = np.split(value, len(entry.parts), axis=-1)
        for name, part in zip(layout.tensor_names(entry), parts):
            tensors[name] = np.ascontiguousarray(layout.to_checkpoint(entry, part))
    return tensors


def mismatch_report(missing=(), misshaped=(), unexpected=()):
    """The lines of an error naming every missing, mis-shaped and unexpected tensor; empty when
    there are none."""
    problems = []
    for label, names in (
        ("missing", missing), ("mis-shaped", misshaped), ("unexpected", unexpected)
    ):
        if names:
            shown = "\n    ".join(sorted(names)[:SHOWN_NAMES])
            more = len(names) - SHOWN_NAMES
            more = f"\n    ... and {more} more" if more > 0 else ""
            problems.append(f"  {len(names)} {label} tensor(s):\n    {shown}{more}")
    return "\n".join(problems)


def assign(plan):
    """Assigns each `(variable, value)` of `plan`, cast to the variable's dtype."""
    for variable, value in plan:
        variable.assign(value.astype(variable.dtype))
