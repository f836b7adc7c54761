"""The claims of Deployment's exercises (examples/ch07/deployment_exercises.py).

The byte counts hold whatever the data: checked on this session's run on the subset and on
the recorded run. What one epoch teaches, and how the quantisations and the stray dot then
read the test digits, is checked on the recorded run, on the full MNIST, as the page quotes it;
on the subset only what holds for any network.
"""

from tests.helpers import recorded_results

NAME = "ch07/deployment_exercises"


def both_runs(solutions_run):
    return solutions_run(NAME).results, recorded_results(NAME)


def test_the_bytes_match_the_page_and_the_program(solutions_run):
    for results in both_runs(solutions_run):
        sizes = results["bytes"]
        assert sizes["numbers"] == 80_250 - 96 + 48 == 80_202
        assert (sizes["float32"], sizes["float16"]) == (4 * 80_202, 2 * 80_202)
        assert sizes["int8"] == 81_504 == recorded_results("ch07/deployment")["weights_bytes"]


def test_both_quantisations_keep_nearly_every_reading(solutions_run):
    subset, recorded = both_runs(solutions_run)
    for results in (subset, recorded):
        for kind in ("per_row", "per_tensor"):
            assert results[kind]["same"] >= 0.99 * results["test_images"]
            assert results[kind]["max_prob_difference"] < 0.1
    assert recorded["per_row"]["same"] >= recorded["per_tensor"]["same"]  # "the safer default"


def test_a_stray_dot_changes_readings_that_the_clean_drawing_keeps(solutions_run):
    subset, recorded = both_runs(solutions_run)
    for results in (subset, recorded):
        speck = results["speck"]
        # Enlarged 8 times, then area-averaged back: the drawing reads as the original.
        assert abs(speck["clean_accuracy"] - results["test_accuracy"]) < 2.0
        assert speck["same"] < 99.0 and speck["specked_accuracy"] < speck["clean_accuracy"]
    assert recorded["test_accuracy"] > 98.0 and recorded["speck"]["same"] < 97.0
