"""kerasnlm.analysis on small trained models: drift, neighbours, projections, attention."""

import os

import keras
import numpy as np
import pytest

import kerasnlm as knlm

TINY = dict(num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32)


def backbone(tokenizer, **kwargs):
    return knlm.models.TransformerBackbone(tokenizer.vocabulary_size, 32, **TINY, **kwargs)


def test_drift_is_zero_for_a_copy_and_moves_only_the_tokens_trained_on(tokenizer, tmp_path):
    model = knlm.models.SequenceClassifier(backbone(tokenizer, dropout=0.0), num_classes=2)
    model.save(tmp_path / "copy.keras")
    report = knlm.analysis.embedding_drift(model, str(tmp_path / "copy.keras"), tokenizer)
    assert np.all(report.cosine_change == 0) and np.all(report.l2_shift == 0)

    before = knlm.analysis.embedding_matrix(model)
    texts = ["a gorgeous , witty film", "a dull mess"]
    batch = knlm.data.classification_dataset(
        texts, [1, 0], tokenizer, 32, batch_size=2, num_classes=2, shuffle=False
    )
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    model.fit(batch, epochs=1, verbose=0)  # one step, no weight decay
    report = knlm.analysis.embedding_drift(before, model, tokenizer, texts=texts)
    seen = report.counts > 0
    seen[[tokenizer.cls_id, tokenizer.sep_id]] = True  # framed by the pipeline
    assert np.all(report.l2_shift[seen] > 0) and np.all(report.cosine_change[seen] > 0)
    assert np.all(report.l2_shift[~seen] == 0) and np.all(report.cosine_change[~seen] == 0)
    moved = report.most_moved(5)
    assert {row["token"] for row in moved} <= {t for t in report.tokens[report.counts > 0]}
    assert moved[0]["cosine_change"] >= moved[-1]["cosine_change"] > 0
    assert set(moved[0]) >= {"token", "cosine_change", "l2_shift", "count", "neighbors_changed"}
    assert report.least_moved(3)[0]["cosine_change"] <= moved[-1]["cosine_change"]
    bands = report.by_frequency(edges=(1, 2))
    assert sum(band["tokens"] for band in bands) == tokenizer.vocabulary_size - 5
    assert bands[0]["cosine_change"] == 0  # unseen tokens did not move
    table = report.to_markdown(5)
    assert table.count("\n") == 6 and moved[0]["token"] in table
    path = report.plot(str(tmp_path / "drift.png"), n=5)
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 5000


def test_nearest_neighbours_agree_with_brute_force(tokenizer):
    model = backbone(tokenizer)
    matrix = knlm.analysis.embedding_matrix(model)
    neighbours = knlm.analysis.nearest_neighbors(model, tokenizer, "great", k=5)
    assert neighbours[0][0] == "great" and neighbours[0][1] == pytest.approx(1.0, abs=1e-6)
    vocabulary = tokenizer.get_vocabulary()
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    scores = unit @ unit[vocabulary.index("great")]
    scores[:5] = -np.inf  # the special tokens
    expected = [vocabulary[i] for i in np.argsort(-scores)[:5]]
    assert [token for token, _ in neighbours] == expected
    np.testing.assert_allclose([s for _, s in neighbours], np.sort(scores)[::-1][:5], atol=1e-5)
    # A word of several pieces is the mean of its pieces.
    pieces = tokenizer("unbelievably").numpy().tolist()
    assert len(pieces) > 1
    query = matrix[pieces].mean(axis=0)
    word = knlm.analysis.nearest_neighbors(model, tokenizer, "unbelievably", k=1)[0]
    cosine = unit @ (query / np.linalg.norm(query))
    cosine[:5] = -1  # the special tokens
    assert word[1] == pytest.approx(cosine.max(), abs=1e-5)
    with pytest.raises(ValueError, match="unknown"):
        knlm.analysis.nearest_neighbors(model, tokenizer, "東京")
    result = knlm.analysis.analogy(model, tokenizer, "king", "man", "woman", k=3)
    assert len(result) == 3 and not {"king", "man", "woman"} & {t for t, _ in result}


def test_projector_files_and_projection_plots(tokenizer, tmp_path):
    model = backbone(tokenizer)
    config = knlm.analysis.export_projector(model, tokenizer, str(tmp_path / "projector"))
    text = open(config).read()
    assert 'tensor_path: "token_embeddings.tsv"' in text and 'metadata_path: "metadata.tsv"' in text
    vectors = np.loadtxt(tmp_path / "projector" / "token_embeddings.tsv", delimiter="\t")
    metadata = open(tmp_path / "projector" / "metadata.tsv", encoding="utf-8").read().splitlines()
    assert vectors.shape == (tokenizer.vocabulary_size, 16) and len(metadata) == len(vectors)
    assert metadata == tokenizer.get_vocabulary()

    texts, labels = knlm.data.read_tsv(knlm.data.samples.sst2("dev"))
    vectors = knlm.analysis.sentence_embeddings(model, tokenizer, texts[:60])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for method in ("pca", "tsne"):
        path = knlm.analysis.plot_projection(vectors, labels[:60], str(tmp_path / f"{method}.png"),
                                             method=method)
        assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 5000
    with pytest.raises(ValueError, match="`method` must be one of"):
        knlm.analysis.project(vectors, method="svd")
    hits = knlm.analysis.semantic_search(model, tokenizer, [texts[3]], texts[:60], k=2)
    assert hits[0][0][:2] == (3, texts[3]) and hits[0][0][2] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_maps_are_distributions_over_real_keys(tokenizer, tmp_path, causal):
    if causal:
        model = knlm.models.CausalLanguageModel(backbone(tokenizer), tokenizer=tokenizer)
    else:
        model = backbone(tokenizer)
    maps, pieces = knlm.analysis.attention_maps(
        model, tokenizer, "a gorgeous , witty film", pad_to=12
    )
    real = sum(p != "[PAD]" for p in pieces)
    assert maps.shape == (2, 2, 12, 12) and maps.dtype == np.float32 and real == 7
    np.testing.assert_allclose(maps[:, :, :real, :].sum(axis=-1), 1.0, atol=1e-5)
    assert np.all(maps[:, :, :, real:] == 0) and np.all(maps[:, :, real:, :] == 0)
    upper = np.triu(np.ones((12, 12), bool), k=1)
    assert np.all(maps[:, :, upper] == 0) == causal
    path = knlm.analysis.plot_attention(maps, pieces, str(tmp_path / "attention.png"))
    assert os.path.getsize(path) > 5000


def test_drift_from_the_command_line(tokenizer, tmp_path, capsys):
    from kerasnlm.cli.main import main

    model = knlm.models.SequenceClassifier(backbone(tokenizer), num_classes=2, tokenizer=tokenizer)
    model.backbone.save(tmp_path / "backbone.keras")
    texts, labels = knlm.data.read_tsv(knlm.data.samples.sst2("train"))
    model.compile(learning_rate=1e-2)
    model.fit(knlm.data.classification_dataset(
        texts[:64], labels[:64], tokenizer, 32, batch_size=16, num_classes=2, seed=0,
    ), verbose=0)
    model.save(tmp_path / "best.keras")
    argv = ["drift", "--before", str(tmp_path / "backbone.keras"), "--after", str(tmp_path),
            "--texts", knlm.data.samples.sst2("train"), "--top", "7", "--plot",
            str(tmp_path / "drift.png")]
    assert main(argv) == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert len(table) == 9 and table[0].startswith("| token | count | cosine change")
    assert os.path.getsize(tmp_path / "drift.png") > 5000
    missing = str(tmp_path / "nothing.keras")
    assert main(["drift", "--before", missing, "--after", str(tmp_path)]) == 2
    assert "`--before`: No model file at" in capsys.readouterr().err
