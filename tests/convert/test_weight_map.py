"""The shared description of BERT's weights, with each converter's layout."""

import keras
import numpy as np
import pytest

from kerasnlm.convert import weight_map
from kerasnlm.convert.hugging_face import LAYOUT
from kerasnlm.convert.keras_hub_models import KerasHubBertLayout
from kerasnlm.models import TransformerBackbone


def bert_like(**kwargs):
    return TransformerBackbone(
        vocabulary_size=20, sequence_length=8, num_layers=2, num_heads=2, hidden_dim=8,
        intermediate_dim=16, normalize_embeddings=True, **kwargs,
    )


@pytest.mark.parametrize("options", [{}, {"num_segments": 2, "use_pooler": True}])
def test_every_backbone_variable_is_described_once(options):
    backbone = bert_like(**options)
    entries = weight_map.weight_entries(backbone)
    assert sorted(id(e.variable) for e in entries) == sorted(id(w) for w in backbone.weights)
    assert {part for e in entries for part in e.parts} <= set(weight_map.PARTS)
    for layout in (LAYOUT, KerasHubBertLayout(backbone.num_heads)):
        assert set(layout.layer_names) == set(weight_map.PARTS)
        names = [name for e in entries for name in layout.tensor_names(e)]
        assert len(names) == len(set(names))


def test_checkpoint_tensors_gather_back_exactly():
    backbone = bert_like(num_segments=2, use_pooler=True)
    tensors = weight_map.checkpoint_tensors(backbone, LAYOUT)
    assert tensors["encoder.layer.1.attention.self.key.weight"].shape == (8, 8)
    assert tensors["encoder.layer.0.intermediate.dense.weight"].shape == (16, 8)  # (out, in)
    plan, missing, misshaped, used = weight_map.gather_tensors(backbone, LAYOUT, tensors)
    assert (missing, misshaped, used) == ([], [], set(tensors))
    for variable, value in plan:
        np.testing.assert_array_equal(value, keras.ops.convert_to_numpy(variable))


def test_keras_hub_shapes_keep_heads_as_an_axis():
    backbone = bert_like(num_segments=2, use_pooler=True)
    layout = KerasHubBertLayout(num_heads=2)
    shapes = {
        name: layout.tensor_shape(entry)
        for entry in weight_map.weight_entries(backbone)
        for name in layout.tensor_names(entry)
    }
    attention = "transformer_layer_0/self_attention_layer"
    assert shapes[f"{attention}/query/kernel"] == (8, 2, 4)
    assert shapes[f"{attention}/value/bias"] == (2, 4)
    assert shapes[f"{attention}/attention_output/kernel"] == (2, 4, 8)
    assert shapes[f"{attention}/attention_output/bias"] == (8,)
    assert shapes["transformer_layer_1/feedforward_output_dense/kernel"] == (16, 8)


def test_the_mismatch_report_names_every_problem():
    report = weight_map.mismatch_report(
        missing=[f"m{i:02d}" for i in range(14)], misshaped=["b is (3,), expected (4,)"]
    )
    assert report.startswith("  14 missing tensor(s):\n    m00\n")
    assert "    m11\n    ... and 2 more\n  1 mis-shaped tensor(s):\n    b is (3,)" in report
    assert "unexpected" not in report
    assert weight_map.mismatch_report() == ""
