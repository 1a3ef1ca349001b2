"""Checks of constructor and config arguments, each raising one clear `ValueError`.

Every layer, model, config and command checks its arguments before it builds anything, with
the same words for the same rule, so a user reads "`dropout` must be in [0, 1); received 1.5"
whichever class they gave it to. Each check returns the value, so it can be used inline.

Booleans are never integers here: `epochs: true` in a YAML file is a mistake, not 1. A numpy
integer (a size read from an array) is one, and comes back as a Python int.
"""

import math
import numbers


def _is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def positive_integer(name, value):
    """`value` if it is an int >= 1 (not a bool)."""
    if not _is_integer(value) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer; received {value!r}.")
    return int(value)


def integer_at_least(name, value, minimum):
    """`value` if it is an int >= `minimum` (not a bool)."""
    if not _is_integer(value) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}; received {value!r}.")
    return int(value)


def integer_in(name, value, low, high):
    """`value` if it is an int in `[low, high]` (not a bool)."""
    if not _is_integer(value) or not low <= value <= high:
        raise ValueError(f"`{name}` must be an int in [{low}, {high}]; received {value!r}.")
    return int(value)


def rate(name, value):
    """`value` if it is a number in [0, 1): a dropout or warm-up fraction."""
    if not _is_number(value) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be in [0, 1); received {value!r}.")
    return value


def fraction(name, value):
    """`value` if it is a number in (0, 1]: a share that cannot be empty."""
    if not _is_number(value) or not 0 < value <= 1:
        raise ValueError(f"`{name}` must be in (0, 1]; received {value!r}.")
    return value


def positive_number(name, value):
    """`value` if it is a finite number > 0: an epsilon, a learning rate, a temperature."""
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be a positive number; received {value!r}.")
    return value


def one_of(name, value, choices):
    """`value` if it is one of `choices` (shown in the message as given)."""
    try:
        known = value in choices
    except TypeError:  # an unhashable value asked of a set or a dict
        known = False
    if not known:
        raise ValueError(f"`{name}` must be one of {choices}; received {value!r}.")
    return value
