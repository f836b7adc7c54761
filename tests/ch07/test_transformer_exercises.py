"""The claims of the solutions to The Transformer's exercises
(examples/ch07/transformer_exercises.py).

The solutions read no data: they take attention apart on random tensors from fixed seeds, so
this session's run and the recorded run compute the same things, and every claim is checked
on both. The written answer (the parameter count) is checked on the recorded run of the page's
own program, whose count it explains.
"""

import math

from tests.helpers import recorded_results

NAME = "ch07/transformer_exercises"


def runs(solutions_run):
    return solutions_run(NAME).results, recorded_results(NAME)


def test_the_weights_grow_with_the_square_of_the_context(solutions_run):
    for results in runs(solutions_run):
        shapes = results["shapes"]
        assert shapes["64"] == 32 * 4 * 64 * 64
        assert shapes["128"] == 4 * shapes["64"]


def test_the_parameter_count_of_the_written_answer():
    page = recorded_results("ch07/transformer")
    d, block = 64, 49_984
    assert 12 * d**2 + 13 * d == block
    assert 2 * block + 2 * d + (2 * d + 1) * page["alphabet"] == page["parameters"]
    assert round(10 * 2 * block / page["parameters"]) == 9, "nine tenths in the blocks"


def test_without_the_division_the_softmax_saturates_and_its_gradient_vanishes(solutions_run):
    for results in runs(solutions_run):
        rows = results["scaling"]
        assert sorted(map(int, rows)) == [16, 64, 256, 1024]
        ordered = [rows[str(d)] for d in (16, 64, 256, 1024)]
        spread, largest, gradient, largest_divided, gradient_divided = zip(*ordered)
        for d, value in zip((16, 64, 256, 1024), spread):  # like the square root of d
            assert 0.9 < value / math.sqrt(d) < 1.1
        assert list(largest) == sorted(largest) and largest[-1] > 0.9
        assert list(gradient) == sorted(gradient, reverse=True)
        assert gradient[-1] < gradient[0] / 5
        # Divided: about the same for every d.
        assert max(largest_divided) < 0.15 and max(largest_divided) < 1.3 * min(largest_divided)
        assert max(gradient_divided) < 1.1 * min(gradient_divided)


def test_one_causal_block_ignores_the_order_before_the_last_two_do_not(solutions_run):
    for results in runs(solutions_run):
        moved = results["order"]
        assert moved["1"] < 1e-5, "up to rounding"
        assert moved["2"] > 1e-2
