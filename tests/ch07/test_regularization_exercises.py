"""The claims of the solutions to Regularization, measured's exercises
(examples/ch07/regularization_exercises.py).

Dropout on ones, the counts, the checkpoint's memory and what forgetting `net.eval()` does
hold whatever the data: checked on this session's run on the subset and on the recorded run.
Twice the data against the page's regularizers is checked on the recorded run on the full
MNIST, beside the recorded run of the page's own program, whose figures the page quotes.
"""

from tests.helpers import recorded_results

NAME = "ch07/regularization_exercises"
MATRICES = 784 * 512 + 512 * 10


def runs(solutions_run):
    return solutions_run(NAME).results, recorded_results(NAME)


def test_dropout_drops_a_share_p_and_rescales_the_rest(solutions_run):
    for results in runs(solutions_run):
        for key, p in (("p50", 0.5), ("p20", 0.2)):
            dropout = results["dropout"][key]
            assert dropout["values"] == [0.0, 1 / (1 - p)]
            assert dropout["zeros_percent"] != 100 * p, "close to p, not exactly p"
            assert abs(dropout["zeros_percent"] - 100 * p) < 2
            assert abs(dropout["mean"] - 1) < 0.03, "the mean stays close to 1"
            assert dropout["eval_unchanged"] is True


def test_weight_decay_on_the_matrices_and_what_batch_norm_adds(solutions_run):
    for results in runs(solutions_run):
        count = results["count"]
        assert count["baseline"]["decayed"] == count["batch_norm"]["decayed"] == MATRICES
        assert MATRICES == 406_528, "the page's figure"
        assert count["baseline"]["spared"] == 512 + 10
        assert count["batch_norm"]["spared"] == 512 + 10 + 2 * 512
        assert count["baseline"]["not_learned"] == 0
        assert count["batch_norm"]["not_learned"] == 512 + 512 + 1
        for net in count.values():
            assert net["state_dict"] == net["decayed"] + net["spared"] + net["not_learned"]


def test_a_checkpoint_without_a_copy_follows_the_network(solutions_run):
    for results in runs(solutions_run):
        checkpoint = results["checkpoint"]
        assert checkpoint["shallow_follows"] is True
        assert checkpoint["shares_memory"] is True
        assert checkpoint["deep_differs"] is True
        assert checkpoint["restored"] is True, "to the last digit"


def test_forgetting_eval_measures_less_and_changes_the_network(solutions_run):
    for results in runs(solutions_run):
        forgot = results["forget_eval"]
        assert all(accuracy < forgot["eval"] for accuracy in forgot["train"]), "lower"
        assert forgot["train"][0] != forgot["train"][1], "different at every call"
        assert forgot["running_mean_moved"] > 0
    recorded = recorded_results(NAME)["forget_eval"]
    assert recorded["eval_after"] != recorded["eval"]
    assert recorded["loss_after"] < recorded["loss"], "the loss even fell"
    assert abs(recorded["eval_after"] - recorded["eval"]) < 0.5, "the changes are small"


def test_twice_the_data_beats_every_regularizer_on_every_validation_figure():
    mine = recorded_results(NAME)["more_data"]
    page = recorded_results("ch07/regularization")
    assert page["train_images"] == 1000 and page["epochs"] == 40, "2,000 x 20: the same steps"
    for run in page["runs"].values():
        for when in ("final", "early_stopping"):
            assert mine[when]["validation_accuracy"] > run[when]["validation_accuracy"]
            assert mine[when]["validation_loss"] < run[when]["validation_loss"]
    runs = page["runs"]
    best_final = max(runs, key=lambda k: runs[k]["final"]["validation_accuracy"])
    assert best_final == "dropout", "the page's best at the last epoch"
    assert page["chosen"] == "all", "the page's choice: all three"
