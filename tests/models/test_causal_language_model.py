import keras
import keras_hub
import numpy as np
import pytest

import kerasnlm as knlm

PROMPTS = ["the movie was", "a dull and boring", "tom"]  # different lengths on purpose
# One length for every generation: each new (batch, length) shape costs an XLA compilation.


@pytest.fixture(scope="module")
def trained(tokenizer):
    """A small causal LM trained briefly on real text, so generation is not uniform noise."""
    keras.utils.set_random_seed(0)
    backbone = knlm.models.TransformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size, sequence_length=24, num_layers=2,
        num_heads=2, hidden_dim=32, intermediate_dim=64, dropout=0.0, normalize_first=True,
    )
    model = knlm.models.CausalLanguageModel(backbone, tokenizer=tokenizer)
    model.compile(learning_rate=3e-3)
    texts = knlm.data.read_text(knlm.data.samples.english_text("train"))[:2000]
    data = knlm.data.causal_lm_dataset(texts, tokenizer, sequence_length=24, batch_size=16, seed=0)
    model.fit(data.take(60), verbose=0)
    return model


def test_tied_and_causal(trained, tokenizer):
    backbone = trained.backbone
    assert trained.head.token_embedding.embeddings is backbone.token_embedding.embeddings
    ids = tokenizer(["the movie was great and the cast was good"]).to_tensor().numpy()
    changed = ids.copy()
    changed[:, 5:] = tokenizer.mask_id

    def inputs(t):
        return {"token_ids": t, "padding_mask": t != 0}

    before = trained.predict(inputs(ids), verbose=0)
    after = trained.predict(inputs(changed), verbose=0)
    np.testing.assert_allclose(before[:, :5], after[:, :5], atol=1e-5)
    assert not np.allclose(before[:, 5:], after[:, 5:], atol=1e-3)


def test_cached_step_logits_equal_full_forward(trained, tokenizer):
    backbone, head = trained.backbone, trained.head
    ids = tokenizer(["the movie was great and the cast"]).to_tensor().numpy()
    full = trained.predict({"token_ids": ids, "padding_mask": ids != 0}, verbose=0)[0]
    cache = backbone.initial_cache(1, 24)
    for position in range(ids.shape[1]):
        hidden, cache = backbone.encode(
            ids[:, position : position + 1], cache=cache, cache_index=position
        )
        step = keras.ops.convert_to_numpy(head(hidden))[0, 0]
        np.testing.assert_allclose(step, full[position], atol=1e-4)


@pytest.mark.parametrize("sampler", ["greedy", "beam"])
def test_cached_and_uncached_generation_agree(trained, tokenizer, sampler):
    cached = trained.generate(PROMPTS, max_length=20, sampler=sampler)
    uncached = trained.generate(PROMPTS, max_length=20, sampler=sampler, use_cache=False)
    assert cached == uncached
    assert all(text.startswith(prompt) for prompt, text in zip(PROMPTS, cached)), cached
    # Without stopping at the end token every row runs to max_length, still in agreement.
    ids = tokenizer(PROMPTS).to_tensor().numpy()
    cached = trained.generate(ids, max_length=20, sampler=sampler, stop_at_end=False)
    uncached = trained.generate(
        ids, max_length=20, sampler=sampler, stop_at_end=False, use_cache=False
    )
    np.testing.assert_array_equal(cached, uncached)
    assert np.all(cached != 0)


@pytest.mark.parametrize("sampler", ["greedy", "beam"])
def test_a_prompt_decodes_the_same_alone_and_in_a_batch(trained, sampler):
    batched = trained.generate(PROMPTS, max_length=20, sampler=sampler, stop_at_end=False)
    alone = [
        trained.generate([p], max_length=20, sampler=sampler, stop_at_end=False)[0]
        for p in PROMPTS
    ]
    assert batched == alone


def test_generation_never_emits_padding_or_special_tokens(trained, tokenizer):
    ids = trained.generate(tokenizer(PROMPTS).to_tensor().numpy(), max_length=24,
                           sampler="random", stop_at_end=False)
    assert not np.isin(ids, [tokenizer.pad_id, tokenizer.cls_id, tokenizer.mask_id]).any()


def test_samplers_and_ids(trained, tokenizer):
    ids = tokenizer(PROMPTS).to_tensor().numpy()
    greedy_ids = trained.generate(ids, max_length=20, sampler="greedy")
    assert greedy_ids.shape == (3, 20)
    np.testing.assert_array_equal(greedy_ids[:, : ids.shape[1]][ids != 0], ids[ids != 0])
    for sampler in ["top_k", "top_p", keras_hub.samplers.TopKSampler(k=5, seed=1)]:
        texts = trained.generate(PROMPTS, max_length=20, sampler=sampler)
        assert len(texts) == 3 and all(t.startswith(p) for t, p in zip(texts, PROMPTS))


def test_generate_errors(trained, tokenizer):
    with pytest.raises(
        ValueError, match=r"`max_length` \(40\) exceeds the model's `sequence_length` \(24\)"
    ):
        trained.generate(PROMPTS, max_length=40)
    with pytest.raises(ValueError, match="leaves no room"):
        trained.generate(["word " * 30], max_length=24)
    with pytest.raises(ValueError, match="`sampler` must be one of"):
        trained.generate(PROMPTS, sampler="nucleus")
    no_tokenizer = knlm.models.CausalLanguageModel(trained.backbone)
    with pytest.raises(ValueError, match="need a tokenizer"):
        no_tokenizer.generate(PROMPTS)
    with pytest.raises(ValueError, match="outside"):
        no_tokenizer.generate(np.array([[5, 99999]]), max_length=10)
    with pytest.raises(TypeError, match="integer"):
        no_tokenizer.generate(np.array([[5.7, 6.2]]), max_length=10)
    with pytest.raises(ValueError, match="right-padded"):
        no_tokenizer.generate(np.array([[5, 0, 6]]), max_length=10)
    with pytest.raises(ValueError, match=r"vocabulary \(\d+ tokens\) does not match"):
        knlm.models.CausalLanguageModel(
            knlm.models.TransformerBackbone(
                vocabulary_size=50, sequence_length=8, num_layers=1, num_heads=1, hidden_dim=8,
                intermediate_dim=8,
            ),
            tokenizer=tokenizer,
        )


def test_keras_round_trip_keeps_tokenizer_tie_and_generation(trained, tmp_path):
    trained.save(tmp_path / "clm.keras")
    reloaded = keras.models.load_model(tmp_path / "clm.keras")
    assert reloaded.head.token_embedding.embeddings is reloaded.backbone.token_embedding.embeddings
    assert reloaded.tokenizer.get_vocabulary() == trained.tokenizer.get_vocabulary()
    assert reloaded.generate(PROMPTS, max_length=20, sampler="greedy") == trained.generate(
        PROMPTS, max_length=20, sampler="greedy"
    )
