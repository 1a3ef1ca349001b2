import keras
import numpy as np
import pytest

import kerasnlm as knlm

TAGS = ["O", "B-location", "I-location", "B-person", "I-person"]
SENTENCES = [
    ("I visited New York yesterday", ["O", "O", "B-location", "I-location", "O"]),
    ("Alice lives in Paris", ["B-person", "O", "O", "B-location"]),
    ("we met Bob Smith in London", ["O", "O", "B-person", "I-person", "O", "B-location"]),
    ("the weather is nice today", ["O", "O", "O", "O", "O"]),
    ("Carol flew to Tokyo with Alice", ["B-person", "O", "O", "B-location", "O", "B-person"]),
]


@pytest.fixture(scope="module")
def trained(tokenizer):
    keras.utils.set_random_seed(0)
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=16, num_layers=2,
        num_heads=2, hidden_dim=32, intermediate_dim=64, dropout=0.0,
    )
    tagger = knlm.models.TokenClassifier(
        backbone, num_classes=len(TAGS), dropout=0.0, tokenizer=tokenizer, tags=TAGS
    )
    tagger.compile(learning_rate=5e-3)
    words = [s.split() for s, _ in SENTENCES]
    tags = [t for _, t in SENTENCES]
    dataset = knlm.data.token_classification_dataset(
        words, tags, tokenizer, TAGS, sequence_length=16, batch_size=5, seed=0
    )
    # One iterator for all epochs: restarting the tokenizing pipeline every epoch cost more than
    # the training; the single batch holds all five sentences, so each step sees the same data.
    history = tagger.fit(dataset.repeat(), steps_per_epoch=1, epochs=35, verbose=0).history
    return tagger, history


def test_predict_returns_entity_spans_with_character_offsets(trained):
    tagger, history = trained
    assert history["loss"][-1] < 0.1 * history["loss"][0]
    [entities] = tagger.predict(["I visited New York yesterday"])
    assert entities == [{"text": "New York", "type": "location", "start": 10, "end": 18}]
    [entities] = tagger.predict(["we met  Bob Smith in London"])  # two spaces: offsets still exact
    assert entities == [
        {"text": "Bob Smith", "type": "person", "start": 8, "end": 17},
        {"text": "London", "type": "location", "start": 21, "end": 27},
    ]
    assert tagger.predict([""]) == [[]]
    # Punctuation is split off as the tokenizer splits it: the span is the name alone.
    [entities] = tagger.predict(["Alice lives in Paris."])
    assert {"text": "Paris", "type": "location", "start": 15, "end": 20} in entities


def test_entity_f1_from_seqeval_and_callback(trained):
    tagger, history = trained
    words = [s.split() for s, _ in SENTENCES]
    tags = [t for _, t in SENTENCES]
    scores = tagger.evaluate_entities(words, tags)
    assert scores["f1"] == 1.0 and "location" in scores["report"]
    dataset = knlm.data.token_classification_dataset(
        words, tags, knlm.tokenizers.WordPieceTokenizer(knlm.data.samples.vocabulary()), TAGS,
        sequence_length=16, batch_size=5, seed=0,
    )
    logs = tagger.fit(dataset, verbose=0, callbacks=[knlm.training.EntityF1(words, tags)]).history
    assert logs["val_entity_f1"] == [1.0] and logs["val_entity_recall"] == [1.0]
    wrong = [["O"] * len(w) for w in words]
    assert tagger.evaluate_entities(words, wrong)["recall"] == 0.0


def test_word_tags_come_back_in_order_whatever_the_batch_widths(trained, tokenizer):
    tagger, _ = trained
    words = [s.split() for s, _ in SENTENCES]
    tags = [t for _, t in SENTENCES]
    framed = [len(tokenizer([s])[0]) + 2 for s, _ in SENTENCES]
    assert max(framed) > 8 >= min(framed)  # batches of 2, longest first: widths 16, 8, 8
    assert tagger.predict_word_tags(words, batch_size=2) == tags
    assert tagger.predict_word_tags(words[1::2], batch_size=2) == tags[1::2]  # one width


def test_round_trip_and_shared_backbone(trained, tmp_path):
    tagger, _ = trained
    mlm = knlm.models.MaskedLanguageModel(tagger.backbone)
    assert mlm.head.token_embedding.embeddings is tagger.backbone.token_embedding.embeddings
    tagger.save(tmp_path / "tagger.keras")
    reloaded = keras.models.load_model(tmp_path / "tagger.keras")
    assert reloaded.tags == TAGS
    texts = ["Alice lives in Paris", "we met Bob Smith in London"]
    assert reloaded.predict(texts) == tagger.predict(texts)


def test_errors(tokenizer):
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=16, num_layers=1,
        num_heads=2, hidden_dim=32, intermediate_dim=64,
    )
    with pytest.raises(ValueError, match="`tags` names 2 tags but `num_classes` is 5"):
        knlm.models.TokenClassifier(backbone, 5, tags=["O", "B-x"])
    tagger = knlm.models.TokenClassifier(backbone, 5)
    with pytest.raises(ValueError, match="needs the classifier's `tokenizer` and `tags`"):
        tagger.predict(["text"])
    tagger.compile()
    ids = np.ones((2, 6), "int32")
    with pytest.raises(ValueError, match=r"`labels` holds values outside \[0, 5\)"):
        tagger.fit({"token_ids": ids, "padding_mask": ids}, np.full((2, 6), 7), verbose=0)
