"""The layers and the backbone run unchanged on the JAX backend (in a subprocess: the Keras
backend is chosen once per process), and a model saved under TensorFlow gives the same outputs
under JAX."""

import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np

from kerasnlm.models import TransformerBackbone

REFERENCE = pathlib.Path(__file__).parent / "models" / "data"

JAX_SCRIPT = textwrap.dedent(
    """
    import sys
    import jax
    import keras
    import numpy as np
    import pytest
    import kerasnlm as knlm

    assert keras.backend.backend() == "jax"
    saved = np.load(sys.argv[2])
    inputs = {"token_ids": saved["token_ids"], "padding_mask": saved["padding_mask"]}

    # 1. A backbone saved under TensorFlow computes the same numbers under JAX.
    backbone = keras.models.load_model(sys.argv[1])
    outputs = backbone(inputs)
    np.testing.assert_allclose(outputs["sequence_output"], saved["sequence_output"], atol=1e-5)
    jitted = jax.jit(lambda x: backbone(x)["sequence_output"])(inputs)
    np.testing.assert_allclose(jitted, saved["sequence_output"], atol=1e-5)

    # 2. Each layer runs eagerly, with masks, causally and under mixed precision.
    embedding = knlm.layers.TokenAndPositionEmbedding(60, 16, 16, position_encoding="sinusoidal")
    encoder = knlm.layers.TransformerEncoder(num_heads=4, intermediate_dim=32)
    x = embedding(inputs["token_ids"])
    y, weights = encoder(x, padding_mask=inputs["padding_mask"], return_attention_scores=True)
    assert y.shape == (2, 8, 16) and weights.shape == (2, 4, 8, 8)
    assert np.all(np.asarray(weights)[0, :, :, 5:] == 0)
    causal = np.asarray(encoder(x, use_causal_mask=True))
    changed_ids = inputs["token_ids"].copy()
    changed_ids[:, 6:] = 7
    causal_changed = np.asarray(encoder(embedding(changed_ids), use_causal_mask=True))
    np.testing.assert_allclose(causal[:, :6], causal_changed[:, :6], atol=1e-6)
    mixed = knlm.layers.TransformerEncoder(4, 32, dtype="mixed_bfloat16")
    out, w = mixed(x, return_attention_scores=True)
    assert out.dtype == "bfloat16" and w.dtype == "float32"
    # ALiBi: a jitted cached step, its position a traced index, equals the causal full pass.
    alibi = knlm.layers.TransformerEncoder(4, 32, position_bias="alibi")
    x = np.asarray(x)  # no Keras padding mask: a cached step has none either
    full = np.asarray(alibi(x, use_causal_mask=True))
    step = jax.jit(lambda token, cache, index: alibi(token, cache=cache, cache_index=index))
    cache = np.zeros((2, 2, 4, 8, 4), "float32")
    for i in range(8):
        out, cache = step(x[:, i : i + 1], cache, i)
        np.testing.assert_allclose(np.asarray(out)[:, 0], full[:, i], atol=1e-5)

    # 3. Bad ids are refused eagerly and at the fit boundary.
    with pytest.raises(ValueError, match="outside"):
        embedding(np.array([[1, 60]]))
    with pytest.raises(TypeError, match="integer"):
        embedding(np.array([[1.0, 2.0]]))

    # 4. fit trains (XLA via jax.jit), and .keras round-trips under JAX.
    backbone.compile(optimizer="adam", loss={"sequence_output": "mse", "pooled_output": None})
    target = {"sequence_output": np.zeros((2, 8, 16), "float32")}
    # Compared without dropout (evaluate): the training losses carry dropout's noise.
    before = backbone.evaluate(inputs, target, verbose=0, return_dict=True)["loss"]
    backbone.fit(inputs, target, epochs=20, verbose=0)
    after = backbone.evaluate(inputs, target, verbose=0, return_dict=True)["loss"]
    assert after < before, (before, after)
    with pytest.raises(ValueError, match="outside"):
        backbone.fit({**inputs, "token_ids": inputs["token_ids"] + 100}, target, verbose=0)
    backbone.save(sys.argv[3])
    reloaded = keras.models.load_model(sys.argv[3])
    np.testing.assert_array_equal(
        reloaded(inputs)["sequence_output"], backbone(inputs)["sequence_output"]
    )
    # 5. Cached generation (keras-hub samplers, ops.while_loop) agrees with re-running the prefix.
    clm = knlm.models.CausalLanguageModel(backbone)
    prompts = np.array([[5, 9, 14, 0], [7, 3, 0, 0]])
    cached = clm.generate(prompts, max_length=10, sampler="greedy", stop_at_end=False)
    uncached = clm.generate(prompts, max_length=10, sampler="greedy", stop_at_end=False,
                            use_cache=False)
    np.testing.assert_array_equal(cached, uncached)
    assert np.all(cached[:, 3:] != 0)

    # 5b. ELECTRA: generator samples, discriminator loss and metrics under JAX's stateless step.
    electra = knlm.models.ElectraPretrainer(backbone, seed=0)
    electra.compile()
    masked = {**inputs, "mask_positions": np.array([[1, 3], [2, 0]], "int32")}
    originals = np.take_along_axis(inputs["token_ids"], masked["mask_positions"], 1)
    history = electra.fit(masked, originals, sample_weight=np.array([[1.0, 1.0], [1.0, 0.0]]),
                          epochs=2, verbose=0).history
    assert set(history) == {"loss", "generator_accuracy", "discriminator_accuracy"}
    assert np.all(np.isfinite(history["loss"]))
    assert electra.predict(masked, verbose=0)["discriminator_logits"].shape == (2, 8)

    # 6. The decoder block and an encoder-decoder model: train, beam search, cache == full pass.
    decoder = knlm.layers.TransformerDecoder(num_heads=4, intermediate_dim=32)
    y = decoder(x, x[:, :5], encoder_padding_mask=inputs["padding_mask"][:, :5])
    assert y.shape == (2, 8, 16)
    # One decoder block: what is checked is the same for one as for two, at half the compiling.
    s2s = knlm.models.Seq2SeqTransformer(backbone, target_sequence_length=8, num_decoder_layers=1)
    s2s.compile()
    batch = {
        "encoder_token_ids": inputs["token_ids"],
        "encoder_padding_mask": inputs["padding_mask"],
        "decoder_token_ids": inputs["token_ids"],
        "decoder_padding_mask": inputs["padding_mask"],
    }
    # Compared without dropout, as in 4: three noisy training losses did not always fall.
    before = s2s.evaluate(batch, inputs["token_ids"], verbose=0, return_dict=True)["loss"]
    s2s.fit(batch, inputs["token_ids"], epochs=5, verbose=0)
    after = s2s.evaluate(batch, inputs["token_ids"], verbose=0, return_dict=True)["loss"]
    assert after < before, (before, after)
    greedy = s2s.generate(inputs["token_ids"], sampler="greedy", stop_at_end=False, start_id=2)
    logits = np.array(s2s({**batch, "decoder_token_ids": greedy[:, :-1],
                             "decoder_padding_mask": np.ones_like(greedy[:, :-1])}))
    logits[..., 0] = -1e9  # generation never emits padding
    np.testing.assert_array_equal(logits.argmax(-1), greedy[:, 1:])
    import keras_hub
    beam = s2s.generate(inputs["token_ids"], sampler=keras_hub.samplers.BeamSampler(num_beams=1),
                        stop_at_end=False, start_id=2)
    np.testing.assert_array_equal(beam, greedy)

    # 7. A Hugging Face BERT folder loads and matches the PyTorch reference; sentence vectors.
    import json
    meta = json.load(open(sys.argv[5], encoding="utf-8"))
    reference = np.load(sys.argv[6])
    # The encoder's backbone is TransformerBackbone.from_pretrained's: one load checks both.
    encoder = knlm.models.SentenceEncoder.from_pretrained(sys.argv[4])
    bert = encoder.backbone
    assert isinstance(bert, knlm.models.TransformerBackbone)
    ids = np.array([meta["token_ids"][1]], "int32")
    hidden = bert({"token_ids": ids, "padding_mask": np.ones_like(ids)})["sequence_output"]
    np.testing.assert_allclose(np.asarray(hidden)[0], reference["hidden_1"], atol=1e-4)
    np.testing.assert_allclose(encoder.predict(meta["sentences"][:6]), reference["embeddings"][:6],
                               atol=1e-5)
    print("JAX OK")
    """
)


def test_layers_and_backbone_run_under_jax(tmp_path, minilm_path):
    backbone = TransformerBackbone(
        vocabulary_size=60, sequence_length=16, num_layers=2, num_heads=4, hidden_dim=16,
        intermediate_dim=32, normalize_first=True,
    )
    token_ids = np.array([[2, 14, 33, 9, 3, 0, 0, 0], [2, 5, 6, 7, 8, 9, 10, 3]], dtype="int32")
    inputs = {"token_ids": token_ids, "padding_mask": token_ids != 0}
    outputs = backbone(inputs)
    backbone.save(tmp_path / "tf.keras")
    np.savez(
        tmp_path / "expected.npz",
        sequence_output=keras.ops.convert_to_numpy(outputs["sequence_output"]),
        **inputs,
    )
    script = tmp_path / "run_jax.py"
    script.write_text(JAX_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "tf.keras"), str(tmp_path / "expected.npz"),
         str(tmp_path / "jax.keras"), minilm_path, str(REFERENCE / "minilm_reference.json"),
         str(REFERENCE / "minilm_reference.npz")],
        env={**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "JAX OK" in result.stdout
