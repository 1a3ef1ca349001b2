"""What every decoding model shares: sampler lookup, compiled decoding loops, output cleanup.

Models supply a `next(token_ids, cache, index) -> (logits, hidden, cache)` function; keras-hub's
samplers run the loop (greedy, top-k, top-p, beam, random).
"""

import keras
import keras_hub
import numpy as np
from keras import ops

SAMPLERS = ("greedy", "top_k", "top_p", "beam", "random")


def get_sampler(sampler):
    """A `keras_hub.samplers.Sampler` from a name in `SAMPLERS` or a sampler instance."""
    if isinstance(sampler, str):
        if sampler not in SAMPLERS:
            raise ValueError(f"`sampler` must be one of {SAMPLERS}; received {sampler!r}.")
        return keras_hub.samplers.get(sampler)
    if not isinstance(sampler, keras_hub.samplers.Sampler):
        raise TypeError(
            "`sampler` must be a name or a `keras_hub.samplers.Sampler`; received "
            f"{type(sampler).__name__}."
        )
    return sampler


def sampler_key(sampler):
    """A hashable description of a sampler's settings, to reuse one compiled loop per setting."""
    return type(sampler).__name__, repr(sampler.get_config())


def compile_loop(function):
    """XLA-compiles a decoding loop on TensorFlow (JAX runs it as it is)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=True, reduce_retracing=True)
    return function


def allowed_tokens(vocabulary_size, tokenizer):
    """A boolean `(vocabulary_size,)` mask of the tokens a model may generate: never `[PAD]`
    (it would read as padding), `[CLS]` or `[MASK]`."""
    forbidden = [0]
    if tokenizer is not None:
        forbidden += [tokenizer.pad_id, tokenizer.cls_id, tokenizer.mask_id]
    allowed = np.ones(vocabulary_size, bool)
    allowed[forbidden] = False
    return allowed


def restrict_logits(logits, allowed):
    return ops.where(allowed[None], logits, -1e9)


def blank_after_end(generated, starts, end_id):
    """Zeroes each row after its first `end_id` at or after `starts[row]` (in place)."""
    if end_id is None:
        return generated
    for row, start in zip(generated, starts):
        ends = np.flatnonzero(row[start:] == end_id)
        if ends.size:
            row[start + ends[0] :] = 0
    return generated


def detokenize(tokenizer, token_ids):
    """Strings from a `(batch, length)` id array, special tokens dropped."""
    texts = tokenizer.detokenize(token_ids, skip_special_tokens=True)
    return [text.decode("utf-8") for text in ops.convert_to_numpy(texts).tolist()]
