"""The claims of the convolutional network's exercises (examples/ch07/cnn_exercises.py).

Shapes, counts, receptive fields and identities hold whatever the data: they are checked on
this session's run on the subset and on the recorded run. What the networks learn in a
quarter of an epoch (a few steps on the subset) is checked on the recorded run only, on the
full MNIST, as the page quotes it.
"""

import math

from tests.helpers import recorded_results

NAME = "ch07/cnn_exercises"


def both_runs(solutions_run):
    return solutions_run(NAME).results, recorded_results(NAME)


def test_padding_changes_only_fc1(solutions_run):
    convolutions = (16 * 25 + 2 * 16) + (32 * 16 * 25 + 2 * 32)  # with their batch norms
    for results in both_runs(solutions_run):
        rows = results["padding"]
        assert [row["padding"] for row in rows] == [0, 2]
        for row, size in zip(rows, (4, 7)):  # 28 -> 24 -> 12 -> 8 -> 4; 28 -> 14 -> 14 -> 7
            assert row["fc1"] == 32 * size * size * 128 + 128
            assert row["parameters"] == convolutions + row["fc1"] + 128 * 10 + 10
        assert (rows[0]["parameters"], rows[1]["parameters"]) == (80_250, 215_418)
        assert 28 + 2 * 2 - 5 + 1 == 28 and 32 * 7 * 7 == 1_568


def test_receptive_fields_by_the_rule_and_by_the_gradients(solutions_run):
    for results in both_runs(solutions_run):
        rows = results["receptive_field"]
        assert [(r["size"], r["field"], r["jump"]) for r in rows] == [
            (24, 5, 1),
            (12, 6, 2),
            (8, 14, 2),
            (4, 16, 4),
        ]
        for row in rows:  # a full square of that size, nothing outside it
            assert row["height"] == row["width"] == row["field"]
            assert row["pixels"] == row["field"] ** 2
        assert 3 * 4 + 16 == 28, "fc1's 4 x 4 positions span the whole image"


def test_a_bias_before_batch_norm_changes_nothing(solutions_run):
    for results in both_runs(solutions_run):
        assert results["bias"]["difference"] < 1e-5, "float32 rounding only"


def test_shifted_digits_hurt_the_mlp_more_than_the_cnn(solutions_run):
    for results in both_runs(solutions_run):
        assert results["train_images"] in (4_000, 60_000)
        assert [row["pixels"] for row in results["shifted"]] == [0, 1, 2, 3, 4]
        assert results["shifted"][0]["ink_lost"] == 0
        maps = results["shifted_maps"]
        assert maps["conv1"] < 1e-5 and maps["fc1"] < 1e-5, "the same maps, moved"
        assert maps["fc1_in_place"] > 0.5, "in place, fc1 reads other values"
    rows = recorded_results(NAME)["shifted"]
    assert rows[4]["ink_lost"] < 1, "hardly any ink leaves the frame"
    for name in ("CNN", "MLP"):
        accuracy = [row[name] for row in rows]
        assert accuracy == sorted(accuracy, reverse=True), "both suffer, more with each pixel"
    for row in rows[1:]:
        assert rows[0]["CNN"] - row["CNN"] < rows[0]["MLP"] - row["MLP"], "the MLP more"
    assert rows[4]["CNN"] < rows[0]["CNN"] - 10, "the CNN minds too"


def test_without_batch_norm_a_higher_rate_fails(solutions_run):
    rows = solutions_run(NAME).results["batch_norm"]
    assert [(r["batch_norm"], r["peak_lr"]) for r in rows] == [
        (True, 0.3),
        (False, 0.1),
        (False, 0.3),
    ]
    recorded = recorded_results(NAME)
    assert recorded["train_images"] == 60_000
    with_bn, without, without_fast = recorded["batch_norm"]
    with_bn_slow = recorded["shifted"][0]["CNN"]  # exercise 4's CNN
    assert 90 < without["accuracy"] < with_bn_slow, "learns at 0.1, a little less"
    assert abs(with_bn["accuracy"] - with_bn_slow) < 0.5, "about as well at 0.3"
    assert with_bn["answers"] == without["answers"] == list(range(10))
    commonest = recorded["commonest"]
    assert without_fast["answers"] == [commonest["digit"]], "one answer for every digit"
    assert math.isclose(without_fast["accuracy"], commonest["percent"])
