"""The claims of the solutions to Scaling out's exercises (examples/ch07/distributed_exercises.py).

The all-reduce by hand and DistributedSampler's shares hold whatever the data: checked on this
session's run on the subset and on the recorded run. What one epoch learns with each batch is
checked on the recorded run on the full MNIST, as the page quotes it; the steps on both.
"""

import math

from tests.helpers import recorded_results

NAME = "ch07/distributed_exercises"


def runs(solutions_run):
    return solutions_run(NAME).results, recorded_results(NAME)


def test_averaged_shares_give_the_whole_batch_only_when_the_sum_is_scaled(solutions_run):
    for results in runs(solutions_run):
        equal, uneven = results["allreduce"]["256"], results["allreduce"]["216"]
        assert equal["mean"] < 1e-6 and equal["scaled"] < 1e-6, "equal shares: both exact"
        assert uneven["scaled"] < 1e-6, "the scaled sums stay exact"
        assert uneven["mean"] > 100 * uneven["scaled"], "the plain means are off"
    assert [len(range(rank, 216, 5)) for rank in range(5)] == [44, 43, 43, 43, 43]


def test_the_sampler_takes_every_third_item_and_pads_or_drops(solutions_run):
    for results in runs(solutions_run):
        sampler = results["sampler"]
        assert sampler["False"] == [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]
        assert sampler["True"] == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
        assert sampler["per_process"] == math.ceil(55_000 / 3) == 18_334
        assert sampler["repeated"] == 3 * 18_334 - 55_000 == 2
        assert sampler["same"] == [True, False], "same epoch, same order; next epoch, another"


def test_a_batch_per_process_takes_fewer_steps_and_learns_less(solutions_run):
    for results, images in ((solutions_run(NAME).results, 4_000), (recorded_results(NAME), 60_000)):
        rows = results["global_batch"]
        assert [(r["batch_size"], r["lr"]) for r in rows] == [(256, 0.3), (1024, 0.3), (1024, 1.2)]
        assert [r["steps"] for r in rows] == [math.ceil(images / r["batch_size"]) for r in rows]
    page, per_process, scaled_lr = recorded_results(NAME)["global_batch"]
    assert per_process["accuracy"] < page["accuracy"] - 1, "less learned after one epoch"
    assert scaled_lr["accuracy"] < per_process["accuracy"] - 10, "the rate times 4: worse"
