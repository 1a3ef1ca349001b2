"""Raw strings into `predict` and `generate`, on every model that takes them: `[]` gives `[]`,
a bare string and items that are not text are refused by name, never guessed at."""

import numpy as np
import pytest

import kerasnlm as knlm


@pytest.fixture(scope="module")
def models():
    tokenizer = knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary())
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=16, num_layers=1,
        num_heads=2, hidden_dim=16, intermediate_dim=32, normalize_first=True)
    return {
        "classifier": knlm.models.SequenceClassifier(
            backbone, num_classes=2, tokenizer=tokenizer, labels=["negative", "positive"]),
        "tagger": knlm.models.TokenClassifier(
            backbone, num_classes=3, tokenizer=tokenizer, tags=["O", "B-x", "I-x"]),
        "encoder": knlm.models.SentenceEncoder(backbone, tokenizer=tokenizer),
        "language_model": knlm.models.CausalLanguageModel(backbone, tokenizer=tokenizer),
        "translator": knlm.models.Seq2SeqTransformer(
            backbone, num_decoder_layers=1, tokenizer=tokenizer),
    }


def run(models, name, texts, **kwargs):
    model = models[name]
    if name in ("language_model", "translator"):
        return model.generate(texts, max_length=kwargs.pop("max_length", 8), sampler="greedy",
                              **kwargs)
    return model.predict(texts, **kwargs)


NAMES = ("classifier", "tagger", "encoder", "language_model", "translator")


@pytest.mark.parametrize("name", NAMES)
def test_an_empty_list_gives_no_results(models, name):
    result = run(models, name, [])
    assert len(result) == 0
    if name == "encoder":
        assert result.shape == (0, 16)


@pytest.mark.parametrize("name", NAMES)
def test_a_bare_string_is_refused_with_how_to_pass_it(models, name):
    with pytest.raises(TypeError, match=r"is a single string; pass a list of strings"):
        run(models, name, "a fine film")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad, error, message", [
    (None, TypeError, r"\[1\]` is NoneType, not a string"),
    (3, TypeError, r"\[1\]` is int, not a string"),
    (b"caf\xe9", ValueError, r"\[1\]` is not valid UTF-8 \(byte 0xe9 at position 3\)"),
])
def test_an_item_that_is_not_text_is_named_by_index(models, name, bad, error, message):
    with pytest.raises(error, match=message):
        run(models, name, ["a fine film", bad])


@pytest.mark.parametrize("name", NAMES)
def test_utf8_bytes_and_numpy_string_arrays_are_text(models, name):
    as_bytes = run(models, name, [b"a fine film", "caf\u00e9".encode()])
    as_array = run(models, name, np.array(["a fine film", "caf\u00e9"]))
    assert len(as_bytes) == len(as_array) == 2


@pytest.mark.parametrize("name", ("language_model", "translator"))
@pytest.mark.parametrize("max_length", [0, 1, 2.5, True])
def test_a_max_length_that_cannot_hold_a_token_is_refused(models, name, max_length):
    with pytest.raises(ValueError, match=r"`max_length` must be an int in \[2, "):
        run(models, name, ["a fine film"], max_length=max_length)
