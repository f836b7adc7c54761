"""The claims of "torch.nn's building blocks"'s exercises (nn_building_blocks_exercises.py).

Shapes, counts and the state_dict's names hold on this session's run on the subset and on the
recorded run on the full MNIST; what the networks learn in their epoch (the accuracies the
page compares, the spread that the default initialisation loses) is checked on the recorded
run, which the page quotes, and on the page's own recorded run where it compares with it.
"""

import math

from tests.helpers import recorded_results

NAME = "ch07/nn_building_blocks_exercises"


def both(solutions_run):
    return [solutions_run(NAME).results, recorded_results(NAME)]


def test_the_shapes_and_counts_follow_the_formulas(solutions_run):
    for results in both(solutions_run):
        chain = results["shapes"]["chain"]
        assert [row["shape"] for row in chain] == [
            [256, 16, 28, 28],
            [256, 16, 14, 14],
            [256, 32, (14 - 3) // 2 + 1, 6],
            [256, 32 * 6 * 6],
            [256, 10],
        ]
        assert [row["parameters"] for row in chain] == [
            16 * 5 * 5 + 16,
            0,
            32 * 16 * 3 * 3 + 32,
            0,
            1152 * 10 + 10,
        ]
        assert chain[-1]["parameters"] > chain[0]["parameters"] + chain[2]["parameters"]
        lstm = results["shapes"]["lstm"]
        first, second = 4 * (128 * 28 + 128 * 128 + 256), 4 * (128 * 128 + 128 * 128 + 256)
        assert (first, second) == (80_896, 132_096)
        assert lstm["parameters"] == first + second
        assert lstm["output"] == [256, 28, 128] and lstm["h_n"] == [2, 256, 128]


def test_a_state_dict_loads_into_the_sequential_only_renamed(solutions_run):
    for results in both(solutions_run):
        assert results["state_dict"] == {"not_strict_same": False, "renamed_same": True}


def test_without_glorot_the_relu_network_learns_nothing_in_its_epoch(solutions_run):
    for results in both(solutions_run):
        init = results["init"]
        assert init["ReLU_default"]["answers"] == 1, "the same answer for every digit"
        for name in ("ReLU", "Tanh"):
            assert init["spread_ratio"][name] > 10
    init = recorded_results(NAME)["init"]
    page = recorded_results("ch07/nn_building_blocks")
    for name in ("ReLU", "Tanh"):  # the page's gradients, with Glorot's weights
        for ours, theirs in zip(init[f"{name}_glorot"]["norms"], page["gradient_norms"][name]):
            assert math.isclose(ours, theirs, rel_tol=1e-5)
    relu, tanh = init["ReLU_default"], init["Tanh_default"]
    assert relu["accuracy"] < 15 < page["deep_test_accuracy"]["ReLU"] - 50
    assert 80 < tanh["accuracy"] < page["deep_test_accuracy"]["Tanh"], "learns, but less"
    # The page: the ReLU network's values keep about their size, but not their spread.
    assert 0.5 < relu["size"] / init["ReLU_glorot"]["size"] < 2
    assert relu["first_to_last"] < 0.1 < 1 < init["ReLU_glorot"]["first_to_last"]


def test_shuffled_pixels_cost_the_cnn_and_not_the_mlp(solutions_run):
    for results in both(solutions_run):
        mlp, cnn = results["shuffled"]["MLP"], results["shuffled"]["CNN"]
        assert mlp["start_difference"] < 1e-5, "the same network, its columns reordered"
        assert (mlp["parameters"], cnn["parameters"]) == (101_770, 4_138)
    recorded = recorded_results(NAME)["shuffled"]
    mlp, cnn = recorded["MLP"], recorded["CNN"]
    assert abs(mlp["original"] - mlp["shuffled"]) < 0.1, "the page: less than a tenth of a point"
    assert cnn["original"] > mlp["original"], "with 4,138 parameters against 101,770"
    assert cnn["shuffled"] < mlp["shuffled"] - 2 and cnn["shuffled"] < cnn["original"] - 3
