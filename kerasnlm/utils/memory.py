"""Refusing model sizes that cannot fit in memory, before anything is allocated.

A `sequence_length` of 2**31 - 1 or a `vocabulary_size` of 2**40 passes every type check, then
hangs filling a position table or ends in an out-of-memory traceback deep inside TensorFlow.
The weights' size is known from the arguments alone, so it is checked up front against the
machine's memory (an accelerator holds less than its host, so the host is the loose bound).
"""

import os

GIB = 1 << 30


def physical_memory_bytes():
    """This machine's RAM in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None


def check_weights_fit(owner, num_values, bytes_per_value=4, memory=None):
    """Raises a ValueError when `num_values` weights cannot fit in this machine's memory.

    Args:
        owner: what is being built, with the sizes that matter, for the message.
        num_values: how many weight values it would allocate.
        bytes_per_value: 4 for float32 weights (mixed precision keeps float32 weights too).
        memory: the bytes available; default this machine's RAM.
    """
    memory = physical_memory_bytes() if memory is None else memory
    needed = num_values * bytes_per_value
    if memory is not None and needed > memory:
        raise ValueError(
            f"{owner} needs {needed / GIB:,.1f} GiB for its weights alone ({num_values:,} "
            f"values), more than this machine's {memory / GIB:,.1f} GiB of memory (and "
            "training needs about 4x that). Choose smaller sizes."
        )
    return needed
