"""The claims of The Code's exercises (examples/ch07/mnist_mlp_exercises.py).

Claims about what the network learns are checked on the recorded run (the full MNIST, as
the page quotes it): on the tests' subset, two epochs are too few to separate them. Claims
that hold whatever the data (counts, identities, modes) are checked on this session's run
on the subset too.
"""

import math

from tests.helpers import recorded_results

NAME = "ch07/mnist_mlp_exercises"


def test_the_count_is_one_weight_per_input_and_output_plus_one_bias_per_output(solutions_run):
    for results in (solutions_run(NAME).results, recorded_results(NAME)):
        count = results["count"]
        first, second = 784 * 512 + 512, 512 * 10 + 10
        assert count["parameters"] == first + second
        assert math.isclose(count["first_layer_percent"], 100 * first / (first + second))


def test_without_relu_the_two_layers_are_one_and_learn_less(solutions_run):
    # The single layer built from the trained weights: the same outputs, to float32 rounding.
    assert solutions_run(NAME).results["no_relu"]["one_layer_difference"] < 1e-4
    recorded = recorded_results(NAME)["no_relu"]
    assert recorded["one_layer_difference"] < 1e-4
    assert recorded["ReLU"] > recorded["none"] + 1, "the page says: it learns less"


def test_halving_the_batch_doubles_the_steps_and_learns_more_in_one_epoch(solutions_run):
    runs = [(solutions_run(NAME).results, 4_000), (recorded_results(NAME), 60_000)]
    for results, images in runs:
        rows = results["batch_size"]
        assert [row["steps"] for row in rows] == [math.ceil(images / r["batch_size"]) for r in rows]
    rows = recorded_results(NAME)["batch_size"]
    assert [row["batch_size"] for row in rows] == [32, 64, 128]
    accuracy = [row["accuracy"] for row in rows]
    assert accuracy == sorted(accuracy, reverse=True), "more steps, more learned"
    seconds = [row["seconds"] for row in rows]
    assert seconds[0] == max(seconds), "the page says: batch 32 took longest"


def test_eval_and_no_grad_change_nothing_in_this_network(solutions_run):
    assert solutions_run(NAME).results["eval_no_grad"]["same_outputs"] is True
    assert recorded_results(NAME)["eval_no_grad"]["same_outputs"] is True
