"""The claims of the exercises of "Using and debugging a trained model"
(examples/ch07/trained_model_exercises.py).

Claims about what the networks learn are checked on the recorded run (the full MNIST, as the
page quotes it). Claims that hold whatever the data (what weights_only refuses, the first
losses, the floor of the loss on probabilities, the accumulated gradient) are checked on this
session's run on the subset too.
"""

import math

from tests.helpers import recorded_results

NAME = "ch07/trained_model_exercises"


def both(solutions_run):
    """The results of this session's run on the subset and of the recording."""
    return [solutions_run(NAME).results, recorded_results(NAME)]


def test_weights_only_loads_the_state_dict_and_refuses_the_module(solutions_run):
    for results in both(solutions_run):
        outcome = results["weights_only"]
        assert outcome["state_dict"] == "loaded"
        assert outcome["module"].startswith("refused")


def test_a_digit_two_pixels_off_centre_costs_much_of_the_accuracy():
    shift = recorded_results(NAME)["shift"]
    assert shift == sorted(shift, reverse=True), "every pixel costs more"
    assert shift[0] - shift[2] > 10 and shift[4] < 50
    # The unshifted figure is the page's sweep at 0.1: the same run.
    page = recorded_results("ch07/trained_model")["sweep"]["rows"][2]
    assert page["lr"] == 0.1 and math.isclose(shift[0], page["validation_accuracy"])


def test_probabilities_into_the_loss_start_at_ln_10_and_cannot_fall_below_the_floor(
    solutions_run,
):
    for results in both(solutions_run):
        probabilities = results["probabilities"]
        first, floor = probabilities["first"], probabilities["floor"]
        assert abs(first["probabilities"] - math.log(10)) < 0.01, "the first check misses it"
        assert abs(first["right"] - math.log(10)) < 0.1
        assert -0.2 < first["nll_loss"] < 0, "nll_loss on probabilities: about -0.1"
        assert math.isclose(floor, -math.log(math.e / (math.e + 9)))
        assert probabilities["last"][1] > floor
    probabilities = recorded_results(NAME)["probabilities"]
    assert probabilities["last"][1] > 10 * probabilities["last"][0]
    assert probabilities["accuracy"][1] < probabilities["accuracy"][0]


def test_four_quarter_gradients_add_up_to_the_batchs_and_one_more_doubles_it(solutions_run):
    for results in both(solutions_run):
        accumulate = results["accumulate"]
        assert accumulate["difference"] < 1e-6, "float32 rounding"
        assert abs(accumulate["twice"] - 2) < 1e-3
