"""What both generating models share: argument and prompt checks, samplers, the compiled
decoding loops, the key/value cache of a block stack, and the cleanup of what was generated.

A model supplies its own step, `next(token_ids, cache, index) -> (logits, hidden, cache)`, and
a `generate_loop(sampler, stop_token_ids, *options)` that runs one of keras-hub's samplers
(greedy, top-k, top-p, beam, random) over it from the cache it builds; `generate` checks the
arguments, compiles the loop once per sampler setting (`CompiledLoops`) and cleans its output
with the functions here.
"""

import keras
import keras_hub
import numpy as np
from keras import ops

from kerasnlm.utils import arguments
from kerasnlm.utils.checks import check_token_ids

SAMPLERS = ("greedy", "top_k", "top_p", "beam", "random")


# --- Arguments and prompts ---


def get_sampler(sampler):
    """A `keras_hub.samplers.Sampler` from a name in `SAMPLERS` or a sampler instance."""
    if isinstance(sampler, str):
        return keras_hub.samplers.get(arguments.one_of("sampler", sampler, SAMPLERS))
    if not isinstance(sampler, keras_hub.samplers.Sampler):
        raise TypeError(
            "`sampler` must be a name or a `keras_hub.samplers.Sampler`; received "
            f"{type(sampler).__name__}."
        )
    return sampler


def check_max_length(max_length, limit, limit_name):
    """`max_length` (`limit` when None), the tokens a row holds when decoding ends: an int in
    `[2, limit]`, room for a start and one generated token within the model's positions."""
    if max_length is None:
        return limit
    if isinstance(max_length, int) and max_length > limit:
        raise ValueError(
            f"`max_length` ({max_length}) exceeds the model's `{limit_name}` ({limit}); "
            f"`max_length` must be an int in [2, {limit_name}={limit}]."
        )
    return arguments.integer_in("max_length", max_length, 2, limit)


def require_tokenizer(tokenizer, name, which):
    """`tokenizer`, which string `name` (prompts, sources) need: `which` says where it comes
    from, e.g. "a tokenizer: pass `tokenizer=`"."""
    if tokenizer is None:
        raise ValueError(f"String {name} need {which}.")
    return tokenizer


def checked_ids(ids, vocabulary_size, name, sequence_length=None):
    """`ids` as a numpy int array `(batch, length)` of ids in `[0, vocabulary_size)`, checked
    now: decoding is XLA-compiled, where a bad id would be clamped to a valid one."""
    return check_token_ids(np.asarray(ids), vocabulary_size, sequence_length, name=name)


def prompt_lengths(token_ids):
    """The length of each row's prompt in a `(batch, length)` id array: its ids before the
    trailing 0s, which must be the only 0s (a prompt is right-padded)."""
    real = token_ids != 0
    lengths = np.where(real.any(axis=1), real.shape[1] - np.argmax(real[:, ::-1], axis=1), 0)
    if np.any(real.sum(axis=1) != lengths):
        raise ValueError("Prompt ids must be right-padded with 0: found a 0 inside a prompt.")
    return lengths


def pad_rows(rows, length):
    """An int32 `(len(rows), length)` array holding each list of ids, 0-padded on the right."""
    ids = np.zeros((len(rows), length), "int32")
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
    return ids


def end_token_id(tokenizer, stop_at_end):
    """The id decoding stops a row at (the tokenizer's `[SEP]`), or None to run to the end."""
    return tokenizer.sep_id if stop_at_end and tokenizer is not None else None


# --- The decoding loop ---


def sampler_key(sampler):
    """A hashable description of a sampler's settings, to reuse one compiled loop per setting."""
    return type(sampler).__name__, repr(sampler.get_config())


def compile_loop(function, reduce_retracing=True):
    """XLA-compiles a decoding loop on TensorFlow (JAX runs it as it is).

    XLA compiles once per input shape either way; `reduce_retracing` only spares the Python
    tracing by leaving dimensions that changed between calls unknown. A loop whose caches hold
    such a dimension besides the batch (a seq2seq source length) must not: keras-hub's beam
    search reshapes its caches, and an unknown length then also loses the known batch size."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=True, reduce_retracing=reduce_retracing)
    return function


class CompiledLoops:
    """A model's XLA-compiled decoding loops, one per sampler setting, built on first use.

    Compiling a loop takes seconds; `generate` calls with the same sampler configuration, end
    token and loop options reuse the loop the first one compiled.

    Args:
        build: the model's `generate_loop(sampler, stop_token_ids, *options)`, which returns
            the loop as a plain function.
        reduce_retracing: see `compile_loop`.

    Example:
    ```python
    loops = CompiledLoops(model.generate_loop)
    loop = loops.get(get_sampler("greedy"), end_id=3)  # compiled now
    assert loops.get(get_sampler("greedy"), end_id=3) is loop  # and reused
    ```
    """

    def __init__(self, build, reduce_retracing=True):
        self.build = build
        self.reduce_retracing = reduce_retracing
        self.loops = {}

    def get(self, sampler, end_id, *options):
        """The loop decoding with `sampler`, stopping a row at `end_id` (None: never)."""
        key = (*sampler_key(sampler), end_id, *options)
        if key not in self.loops:
            stop_token_ids = None if end_id is None else (end_id,)
            loop = self.build(sampler, stop_token_ids, *options)
            self.loops[key] = compile_loop(loop, self.reduce_retracing)
        return self.loops[key]


def start_groups(lengths, sampler):
    """Boolean masks of the rows to decode together, each from its shortest prompt's end.

    Rows longer than the start keep their prompt (the samplers do not overwrite masked
    positions), so one group serves every row; except for beam search, whose beams would be
    scored on tokens the prompt then overwrites, so each prompt length decodes on its own.
    """
    if isinstance(sampler, keras_hub.samplers.BeamSampler):
        return [lengths == length for length in np.unique(lengths)]
    return [np.ones(len(lengths), bool)]


def token_before(token_ids, index):
    """`(batch, 1)`: the ids at position `index - 1`, the input of the step predicting
    `index`."""
    return ops.slice(token_ids, (0, index - 1), (ops.shape(token_ids)[0], 1))


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


def allowed_logits(logits, tokenizer):
    """`(batch, vocabulary_size)` logits with the tokens `allowed_tokens` forbids at -1e9."""
    return restrict_logits(logits, allowed_tokens(logits.shape[-1], tokenizer))


# --- The key/value cache of a block stack ---


def empty_cache(batch_size, num_blocks, num_heads, max_length, head_dim, dtype):
    """Zero keys and values for a stack of attention blocks decoding up to `max_length`
    positions: `(batch_size, num_blocks, 2, num_heads, max_length, head_dim)`."""
    return ops.zeros((batch_size, num_blocks, 2, num_heads, max_length, head_dim), dtype=dtype)


def run_blocks(blocks, x, call, cache=None, final_norm=None, collect=False):
    """Runs `x` through a stack of blocks, block `i` as `call(i, block, x, block_cache)`.

    With a stacked `cache` (see `empty_cache`), block `i` gets its slice `cache[:, i]` and
    `call` returns `(x, its updated cache)`; the updated stack is returned with the output.
    Without one, `block_cache` is None and `call` returns `x`, or with `collect` a pair
    `(x, something)` (attention weights), the somethings returned as a list.

    Args:
        blocks: list of layers.
        x: `(batch, length, hidden)`.
        call: the function running one block.
        cache: `(batch, len(blocks), 2, num_heads, max_length, head_dim)`, or None.
        final_norm: a layer applied to the last block's output (pre-norm stacks), or None.
        collect: `call` returns pairs even without a cache.

    Returns:
        float32 `(batch, length, hidden)`; with `cache`, also the updated cache; with
        `collect`, also the list of what each block returned besides `x`.
    """
    pairs = cache is not None or collect
    extras = []
    for i, block in enumerate(blocks):
        output = call(i, block, x, None if cache is None else cache[:, i])
        if pairs:
            x, extra = output
            extras.append(extra)
        else:
            x = output
    if final_norm is not None:
        x = final_norm(x)
    x = ops.cast(x, "float32")
    if cache is not None:
        return x, ops.stack(extras, axis=1)
    return (x, extras) if collect else x


# --- The output ---


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


def finish(generated, starts, end_id, tokenizer=None):
    """What `generate` returns from the decoded ids `(batch, max_length)`: 0 after each row's
    first `end_id` at or after `starts[row]`, then strings when a `tokenizer` is given (string
    prompts), else the int32 ids."""
    generated = blank_after_end(np.array(generated, "int32"), starts, end_id)
    return generated if tokenizer is None else detokenize(tokenizer, generated)
