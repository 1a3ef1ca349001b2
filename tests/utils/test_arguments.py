import pytest

from kerasnlm.utils import arguments


@pytest.mark.parametrize("value", [0, -3, 1.0, True, "2", None])
def test_positive_integer_refuses_what_is_not_one(value):
    with pytest.raises(ValueError, match=r"`steps` must be a positive integer; received"):
        arguments.positive_integer("steps", value)


def test_checks_return_the_value_they_accept():
    assert arguments.positive_integer("steps", 3) == 3
    assert arguments.integer_at_least("num_segments", 0, 0) == 0
    assert arguments.integer_in("length", 4, 2, 8) == 4
    assert arguments.rate("dropout", 0.0) == 0.0
    assert arguments.fraction("layer_decay", 1) == 1
    assert arguments.positive_number("epsilon", 1e-6) == 1e-6
    assert arguments.one_of("pooling", "mean", ("cls", "mean")) == "mean"


@pytest.mark.parametrize("value", [1, 1.5, -0.1, True, "0.1", float("nan")])
def test_rate_is_a_number_in_zero_one(value):
    with pytest.raises(ValueError, match=r"`dropout` must be in \[0, 1\); received"):
        arguments.rate("dropout", value)


@pytest.mark.parametrize(
    "check, value, message",
    [
        (lambda v: arguments.integer_at_least("n", v, 0), -1, r"an integer >= 0"),
        (lambda v: arguments.integer_in("n", v, 2, 8), 9, r"an int in \[2, 8\]"),
        (lambda v: arguments.fraction("f", v), 0, r"in \(0, 1\]"),
        (lambda v: arguments.positive_number("lr", v), float("inf"), r"a positive number"),
        (lambda v: arguments.positive_number("lr", v), False, r"a positive number"),
        (lambda v: arguments.one_of("kind", v, ("a", "b")), "c", r"one of \('a', 'b'\)"),
        (lambda v: arguments.one_of("kind", v, {"a": 1}), ["a"], r"one of"),
    ],
)
def test_each_check_names_its_rule(check, value, message):
    with pytest.raises(ValueError, match=message):
        check(value)
