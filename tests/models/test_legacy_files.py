"""`.keras` files saved by an earlier kerasnlm load and compute what they computed then.

The files in `data/legacy/` were written by `scripts/make_legacy_models.py` with the commit
named in their `manifest.json`, before the layers were restructured: a renamed registered
class, layer or weight would fail to load here, or load into different numbers.
"""

import json
import os

import keras
import numpy as np
import pytest

import kerasnlm  # noqa: F401  (registers the classes the files name)

FOLDER = os.path.join(os.path.dirname(__file__), "data", "legacy")
with open(os.path.join(FOLDER, "manifest.json")) as f:
    OUTPUTS = json.load(f)["outputs"]
MODELS = sorted({name.split("/")[0] for name in OUTPUTS})


@pytest.mark.parametrize("name", MODELS)
def test_file_saved_before_loads_and_computes_the_same(name):
    model = keras.models.load_model(os.path.join(FOLDER, f"{name}.keras"))
    inputs = np.load(os.path.join(FOLDER, "inputs.npz"))
    expected = np.load(os.path.join(FOLDER, "outputs.npz"))
    data = {key.split("/", 1)[1]: inputs[key] for key in inputs.files if key.startswith(name + "/")}
    result = model(data)
    result = result if isinstance(result, dict) else {"output": result}
    assert sorted(result) == sorted(k.split("/", 1)[1] for k in OUTPUTS if k.startswith(name + "/"))
    for key, value in result.items():
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(value), expected[f"{name}/{key}"], rtol=1e-5, atol=1e-5,
            err_msg=f"{name}: {key}",
        )
