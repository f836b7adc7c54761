"""The claims of the solutions to Optimizers compared's exercises
(examples/ch07/optimizers_exercises.py).

What the optimizers keep and the size of their steps on one weight hold whatever the data:
checked on this session's run on the subset and on the recorded run. Adam's first step on the
network is checked on both too. What the network learns (the batch sizes, the schedule) is
checked on the recorded run on the full MNIST, as the page quotes it, beside the recorded run
of the page's own program, whose figures the solutions repeat.
"""

import math

from tests.helpers import recorded_results

NAME = "ch07/optimizers_exercises"
PARAMETERS = 784 * 512 + 512 + 512 * 10 + 10


def runs(solutions_run):
    return solutions_run(NAME).results, recorded_results(NAME)


def test_momentum_and_rmsprop_keep_one_number_per_weight_and_adam_two(solutions_run):
    for results in runs(solutions_run):
        memory = results["memory"]
        assert memory["parameters"] == PARAMETERS
        assert memory["sgd"] == 0, "plain SGD keeps nothing"
        assert memory["momentum"] == memory["rmsprop"] == PARAMETERS
        assert memory["adam"] == 2 * PARAMETERS
    assert 2 * 10**9 * 4 / 1e9 == 8, "a billion parameters: Adam's two averages, 8 GB"


def test_the_steps_on_one_weight_follow_the_formulas(solutions_run):
    for results in runs(solutions_run):
        steps = results["steps"]
        for gradient in (1, 100):
            sgd = steps[f"sgd_{gradient}"]
            assert all(math.isclose(step, gradient, rel_tol=1e-4) for step in sgd)
            momentum = [gradient * (1 - 0.9**t) / 0.1 for t in (1, 10, 100)]
            assert all(
                math.isclose(a, b, rel_tol=1e-4)
                for a, b in zip(steps[f"momentum_{gradient}"], momentum)
            )
            assert all(math.isclose(step, 1, rel_tol=1e-4) for step in steps[f"adam_{gradient}"])
            rmsprop = [1 / math.sqrt(1 - 0.99**t) for t in (1, 10, 100)]
            assert all(
                math.isclose(a, b, rel_tol=1e-4)
                for a, b in zip(steps[f"rmsprop_{gradient}"], rmsprop)
            )
        assert round(steps["rmsprop_1"][0]) == 10, "RMSprop's first step: ten times the rate"
        assert round(steps["momentum_1"][2], 2) == 10.0, "momentum's limit, 10 g"


def test_adams_first_step_moves_every_weight_by_the_learning_rate(solutions_run):
    for results in runs(solutions_run):
        first = results["first_step"]
        # PyTorch's nn.Linear(784, ...) draws its weights uniformly in +-1/28.
        assert abs(first["mean_weight"] - 1 / 28 / 2) < 0.001
        assert first["adam_1e-01"]["percent_moved_by_lr"] > 99
        assert first["adam_1e-03"]["percent_moved_by_lr"] > 99
        assert first["sgd_1e-01"]["percent_moved_by_lr"] < 1
        assert math.isclose(first["adam_1e-01"]["mean_change"], 0.1, rel_tol=0.01)
        assert first["sgd_1e-01"]["relative_change"] < 0.02, "about a hundredth of their size"
        assert first["adam_1e-01"]["relative_change"] > 5
        assert first["adam_1e-01"]["loss"] > 10 * first["loss"], "the loss jumps"
        assert first["adam_1e-03"]["loss"] < first["loss"], "the loss falls"
        assert first["sgd_1e-01"]["loss"] < first["loss"]


def test_four_times_the_batch_wants_four_times_the_rate():
    rows = recorded_results(NAME)["batch"]
    assert [(r["batch_size"], r["lr"]) for r in rows] == [(128, 0.1), (512, 0.1), (512, 0.4)]
    assert [r["steps"] for r in rows] == [math.ceil(55_000 / r["batch_size"]) for r in rows]
    page = recorded_results("ch07/optimizers")["sweep"]["sgd"]
    at_01 = next(point for point in page if point["lr"] == 0.1)
    assert abs(rows[0]["accuracy"] - at_01["validation_accuracy"]) < 1e-6, "the sweep's run"
    assert rows[1]["accuracy"] < rows[0]["accuracy"] - 1, "a quarter of the steps: less"
    assert abs(rows[2]["accuracy"] - rows[0]["accuracy"]) < 0.5, "within half a point"
    assert rows[2]["accuracy"] > rows[1]["accuracy"] + 1, "brought the accuracy back"


def test_the_cosine_schedule_beats_the_constant_rate_after_every_epoch():
    schedule = recorded_results(NAME)["schedule"]
    constant, cosine = schedule["constant"], schedule["cosine"]
    race = recorded_results("ch07/optimizers")["runs"]
    # The constant rate is the page's race of SGD with momentum, to the digit.
    assert race["momentum"]["lr"] == 0.1 and len(constant) == len(race["momentum"]["history"])
    for mine, page in zip(constant, race["momentum"]["history"]):
        for figure in ("validation_loss", "validation_accuracy"):
            assert abs(mine[figure] - page[figure]) < 1e-6, (mine, page)
    for a, b in zip(constant, cosine):
        assert b["validation_loss"] < a["validation_loss"]
        assert b["validation_accuracy"] > a["validation_accuracy"]
    best_of_race = max(
        row["validation_accuracy"] for run in race.values() for row in run["history"]
    )
    assert cosine[-1]["validation_accuracy"] > best_of_race, "more than any of the four"
    error = 100 * math.sqrt(0.98 * 0.02 / 5000)
    assert round(error, 1) == 0.2
    gain = cosine[-1]["validation_accuracy"] - constant[-1]["validation_accuracy"]
    assert gain > 3 * error, "several times the standard error"
