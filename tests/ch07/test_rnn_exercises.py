"""The claims of the recurrent network's exercises (examples/ch07/rnn_exercises.py).

Counts, step counts and the shape of the results hold whatever the data: they are checked on
this session's run on the subset and on the recorded run. What the networks learn in a
quarter of an epoch (eight steps on the subset) is checked on the recorded run only, on the
full MNIST, as the page quotes it.
"""

import math

from tests.helpers import recorded_results

NAME = "ch07/rnn_exercises"


def both_runs(solutions_run):
    return solutions_run(NAME).results, recorded_results(NAME)


def test_the_counts_are_pairs_of_w_and_u(solutions_run):
    pair = 28 * 128 + 128 * 128 + 2 * 128
    for results in both_runs(solutions_run):
        count = results["count"]
        assert [count[name]["blocks"] for name in ("RNN", "GRU", "LSTM")] == [1, 3, 4]
        for row in count.values():
            assert row["parameters"] == row["blocks"] * pair
            assert row["multiply_adds"] == row["blocks"] * 28 * (28 * 128 + 128 * 128)
        assert pair == 20_224 and count["LSTM"]["parameters"] == 80_896, "the page's count"
        assert round(28 * (28 * 128 + 128 * 128) / 1e6, 2) == 0.56
        assert count["LSTM"]["multiply_adds"] == 4 * count["RNN"]["multiply_adds"]
        assert round(count["LSTM"]["multiply_adds"] / 1e6, 2) == 2.24


def test_clipping_acts_at_about_half_of_the_steps(solutions_run):
    for results, images in zip(both_runs(solutions_run), (4_000, 60_000)):
        assert results["train_images"] == images
        assert results["clipping"]["steps"] == math.ceil(int(images / 4) / 128)
    clipping = recorded_results(NAME)["clipping"]
    assert 40 < clipping["clipped_percent"] < 60, "about half"
    assert abs(clipping["median"] - 1) < 0.05, "the median sits at the threshold"
    assert 1.5 < clipping["largest"] < 2.5, "about twice that"
    assert clipping["first_half_percent"] > clipping["second_half_percent"]


def test_the_simple_rnn_learns_less_and_hardly_uses_the_first_rows(solutions_run):
    assert set(solutions_run(NAME).results["cells"]) == {"LSTM", "GRU", "RNN", "top_ink"}
    recorded = recorded_results(NAME)
    cells = recorded["cells"]
    assert math.isclose(cells["LSTM"]["whole"], recorded["clipping"]["accuracy"], abs_tol=0.01)
    assert cells["RNN"]["whole"] < min(cells["LSTM"]["whole"], cells["GRU"]["whole"]) - 10
    assert 5 < cells["top_ink"] < 15, "the tops of the digits: some ink, not most"
    drop = {
        name: cells[name]["whole"] - cells[name]["top_blank"] for name in cells if name != "top_ink"
    }
    assert drop["RNN"] < 1, "the simple RNN hardly notices"
    assert min(drop["LSTM"], drop["GRU"]) > 3 * drop["RNN"], "the gated networks use the rows"
    assert 60_672 / 80_896 == 0.75, "the GRU's layer: three quarters of the LSTM's"


def test_trained_at_every_row_it_answers_early(solutions_run):
    for results in both_runs(solutions_run):
        every_step = results["every_step"]
        assert len(every_step["last_row"]) == len(every_step["every_row"]) == 28
    recorded = recorded_results(NAME)
    last, every = recorded["every_step"]["last_row"], recorded["every_step"]["every_row"]
    assert last[-1] == recorded["clipping"]["accuracy"], "exercise 2's LSTM"
    assert every[13] > last[13] + 50 and every[13] > 80, "after half the rows"
    assert every[19] > last[19] + 50
    assert every[-1] < last[-1], "the price is at the end"
