"""The claims of "How a network learns"'s exercises (how_networks_learn_exercises.py).

Identities (the uniform loss, the gradient of b2, the symmetry that nothing breaks) and the
shape of the gradient check's errors hold on this session's run on the subset and on the
recorded run on the full MNIST; the figures the page compares (the accuracies, where float32's
slope vanishes) are checked on the recorded run, which the page quotes.
"""

import math

from tests.helpers import recorded_results

NAME = "ch07/how_networks_learn_exercises"


def both(solutions_run):
    return [solutions_run(NAME).results, recorded_results(NAME)]


def test_every_score_zero_costs_log_10_and_b2_learns_the_digits_shares(solutions_run):
    for results in both(solutions_run):
        uniform = results["uniform"]
        assert math.isclose(uniform["loss"], math.log(10), rel_tol=1e-6)
        assert uniform["b2_difference"] < 1e-6, "0.1 minus each digit's share, to rounding"
        assert uniform["W1_largest_gradient"] == 0.0, "no error comes back through W2 = 0"
        assert uniform["W2_largest_gradient"] > 1e-3


def test_the_nudged_slope_is_best_in_float64_and_fails_in_float32_at_small_eps(solutions_run):
    for results in both(solutions_run):
        rows = results["precision"]
        assert [row["eps"] for row in rows] == [10.0**-k for k in range(1, 8)]
        errors64 = [row["float64"] for row in rows]
        errors32 = [row["float32"] for row in rows]
        # The page: float64's error falls a hundredfold per decade down to the page's 1e-4,
        # is smallest at 1e-5 and grows below it; float32's is smallest at 1e-2.
        for bigger, smaller in zip(errors64[:4], errors64[1:4]):
            assert 50 < bigger / smaller < 200
        assert min(errors64) == errors64[4] and errors64[6] > errors64[4]
        assert min(errors32) == errors32[1]
        assert errors32[3] > 1000 * errors64[3], "float32 at the page's eps: far worse"
    recorded = recorded_results(NAME)
    gradient = abs(recorded["precision_gradient"])
    # At 1e-6 and 1e-7 the two float32 losses were equal: the slope 0, the error the gradient.
    assert [row["float32"] for row in recorded["precision"][5:]] == [gradient, gradient]
    assert 2 * 1e-6 * gradient < 2.0**-22, "the page: the change is under float32's gap"


def test_tanh_by_hand_equals_autograd_and_relu_is_the_pages_epoch(solutions_run):
    for results in both(solutions_run):
        assert results["tanh"]["agree"] is True
    tanh = recorded_results(NAME)["tanh"]
    page = recorded_results("ch07/how_networks_learn")["epoch"]
    assert tanh["ReLU"] == page["test_accuracy"], "the same start, batches and code"
    assert abs(tanh["ReLU"] - tanh["Tanh"]) < 1, "the page: within a point of each other"
    assert min(tanh["ReLU"], tanh["Tanh"]) > 90


def test_without_random_weights_the_units_stay_copies(solutions_run):
    for results in both(solutions_run):
        zero, constant = results["symmetry"]["zero"], results["symmetry"]["constant"]
        assert zero["W2_change"] == 0.0 and zero["spread"] == 0.0
        assert zero["answers"] == 1
        assert math.isclose(zero["accuracy"], zero["most_common_share"], abs_tol=1e-4)
        assert constant["spread"] < 1e-6, "the 64 hidden units stay the same"
        assert constant["answers"] < 10
    recorded = recorded_results(NAME)["symmetry"]
    assert recorded["constant"]["spread"] == 0.0, "the page: identical rows"
    assert recorded["zero"]["accuracy"] < recorded["constant"]["accuracy"] < 50
