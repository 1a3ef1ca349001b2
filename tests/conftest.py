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
    keras.backend.clear_session()
