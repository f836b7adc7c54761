"""The claims of "Using and debugging a trained model" (examples/ch07/trained_model.py).

Most read the `results` of the example's one run as a notebook in this session
(tests/conftest.py), on the MNIST subset, with thresholds well inside what the subset gives.
The claims that are about the figures of the book's recorded run on the full MNIST (which
learning rate the sweep chose, which one the NaN guard stopped) are checked on that run's
metadata. The loading of a checkpoint that train.py wrote, the NaN guard and the default
initialisation are checked on the example's functions, in this process; what a reader gets
wrong (a missing or damaged --checkpoint) runs the real command.
"""

import inspect
import json
import math

import pytest
import torch
import torch.nn as nn

from examples.ch07 import train, trained_model
from tests.helpers import MNIST_SUBSET, REPO, describe, reader_folder, run_python

NAME = "ch07/trained_model"
MODULE = "examples.ch07.trained_model"
DATA = str(MNIST_SUBSET.parents[1])  # the folder that holds MNIST/raw


def recorded():
    """The results of the book's recorded run, on the full MNIST."""
    notebook = json.loads((REPO / "docs/notebooks/ch07/trained_model.ipynb").read_text())
    return notebook["metadata"]["recorded_run"]["results"]


# --- 1. Using a trained model ------------------------------------------------------------


def test_the_checkpoint_it_writes_is_one_train_py_reads(notebook_run):
    """The file has train.py's format and keys, and train.py's own loader accepts it."""
    run = notebook_run(NAME)
    state = train.load_checkpoint(str(run.folder / "trained_model.pt"))
    assert run.results["checkpoint"]["trained_here"] is True
    assert set(state) == set(run.results["checkpoint"]["keys"]) == {
        "format", "config", "model", "optimizer", "scheduler", "shuffle_rng", "torch_rng",
        "history",
    }  # fmt: skip
    assert set(state["config"]) == {"epochs", "batch_size", "lr", "optimizer", "seed"}
    assert len(state["history"]) == trained_model.EPOCHS
    for row in state["history"]:  # chosen and watched on validation only
        assert not [key for key in row if "test" in key], row


def test_a_checkpoint_of_train_py_is_loaded_for_inference(tmp_path):
    """load_trained reads what `python -m examples.ch07.train` wrote, and gives back the
    network in eval mode with its weights: the accuracy train.py measured."""
    path = str(tmp_path / "mnist_train.pt")
    written = train.main(["--epochs", "1", "--data-dir", DATA, "--checkpoint", path])
    net, state = trained_model.load_trained(path)
    assert not net.training, "eval(): dropout off, batch norm on its running statistics"
    (_, _), (test_x, test_y) = train.load_mnist(DATA)
    assert trained_model.evaluate(net, test_x, test_y)[1] == pytest.approx(
        written["test_accuracy"], abs=1e-4
    )
    assert state["history"] == written["history"]


def test_predict_prepares_new_images_exactly_as_the_training_images_were():
    """uint8 (N, 28, 28) -> the same numbers load_mnist gave the network in training."""
    raw = trained_model.torchvision.datasets.MNIST(DATA, train=False)
    (_, _), (test_x, _) = trained_model.load_mnist(DATA)
    assert torch.equal(trained_model.normalise(raw.data), test_x)
    torch.manual_seed(0)
    net = trained_model.Net().eval()
    probabilities = trained_model.predict(net, raw.data[:10])
    assert probabilities.shape == (10, 10) and not probabilities.requires_grad
    with torch.no_grad():
        assert torch.allclose(probabilities, net(test_x[:10]).softmax(dim=1))
    digit = trained_model.pil_to_tensor(trained_model.draw_digit())
    assert digit.shape == (1, 28, 28) and digit.dtype == torch.uint8
    assert trained_model.normalise(digit).shape == (1, 1, 28, 28)


def test_the_drawn_seven_is_read_when_prepared_right_and_misread_inverted(notebook_run):
    digit = notebook_run(NAME).results["digit"]
    assert digit["right"]["prediction"] == 7 and digit["right"]["probability"] > 0.5
    assert digit["inverted"]["prediction"] != 7


def test_wrong_preparations_cost_accuracy_or_calibration(notebook_run):
    """Inverted colours ruin the accuracy; the other two mistakes cost little accuracy but
    change the network's confidence: 0-255 values make it sure of everything, [0, 1] values
    without normalisation less sure than it should be."""
    for results in (notebook_run(NAME).results, recorded()):
        test = results["preparations"]
        right = test["right"]
        assert results["test_accuracy"] == right["test_accuracy"]
        for name in ("not_normalised", "not_scaled", "inverted"):
            assert test[name]["test_accuracy"] < right["test_accuracy"], name
        assert test["inverted"]["test_accuracy"] < 20
        assert test["not_scaled"]["test_mean_confidence"] > 0.99
        assert test["not_scaled"]["test_mean_confidence"] > right["test_mean_confidence"]
        assert test["not_normalised"]["test_mean_confidence"] < right["test_mean_confidence"]
    full = recorded()["preparations"]
    for name in ("not_normalised", "not_scaled"):  # the page: less than a point, in full
        assert full["right"]["test_accuracy"] - full[name]["test_accuracy"] < 1.0, name


def test_a_missing_or_damaged_checkpoint_is_one_line_and_a_failed_run(tmp_path):
    folder = reader_folder(tmp_path)
    (folder / "damaged.pt").write_bytes(b"not a checkpoint at all")
    for name in ("missing.pt", "damaged.pt"):
        result = run_python(["-m", MODULE, "--checkpoint", name], cwd=folder, timeout=300)
        lines = result.stderr.strip().splitlines()
        assert result.returncode != 0 and "Traceback" not in result.stderr, describe(result)
        assert len(lines) == 1 and lines[0].startswith("error: "), describe(result)
        assert name in lines[0] and "--checkpoint" in lines[0], describe(result)
        assert result.stdout == "", "it stopped before any work"
        assert not (folder / "trained_model.pt").exists()


@pytest.mark.parametrize(
    "kind", ["missing", "garbage", "truncated", "empty", "another program's", "pickled objects"]
)
def test_every_bad_checkpoint_gets_one_sentence(tmp_path, kind):
    path = tmp_path / "run.pt"
    if kind == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    elif kind == "truncated":
        torch.save({"format": trained_model.CHECKPOINT_FORMAT, "model": {}}, path)
        path.write_bytes(path.read_bytes()[:100])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "another program's":
        torch.save({"weights": torch.zeros(3)}, path)
    elif kind == "pickled objects":  # a whole model: weights_only=True refuses to run it
        torch.save(nn.Linear(2, 2), path)
    with pytest.raises(SystemExit) as error:
        trained_model.load_trained(str(path))
    message = str(error.value.code)
    assert message.startswith("error: ") and "\n" not in message, message
    assert str(path) in message and "weights_only" not in message, message


# --- 2. The checklist --------------------------------------------------------------------


def test_the_untrained_network_starts_near_ln_10(notebook_run):
    first = notebook_run(NAME).results["first_loss"]
    assert first["ln_10"] == pytest.approx(math.log(10))
    assert abs(first["validation_loss"] - math.log(10)) < 0.05
    assert 2 < first["validation_accuracy"] < 25, "about one digit in ten: a guess"


def test_one_batch_is_learned_by_heart(notebook_run):
    results = notebook_run(NAME).results
    losses = results["overfit_one_batch"]["train_loss"]
    assert len(losses) == results["steps"]
    assert abs(losses[0] - math.log(10)) < 0.1
    assert losses[-1] < 0.001
    assert min(step for step, loss in enumerate(losses, 1) if loss < 0.01) < 100


def test_gradient_norms_stay_bounded_with_zero_grad_and_grow_without(notebook_run):
    cases = notebook_run(NAME).results["gradient_norms"]
    healthy, broken = cases["healthy"], cases["no_zero_grad"]
    assert set(healthy["norms"]) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    for name, norms in healthy["norms"].items():
        assert broken["norms"][name][0] == norms[0], "the first step is the same"
        assert max(norms) < 10 * norms[0], name
    for name in ("fc1.weight", "fc2.weight"):  # the page: more than a hundredfold
        assert broken["norms"][name][-1] > 100 * broken["norms"][name][0], name
    assert healthy["train_loss"][-1] < 0.5 * healthy["train_loss"][0]
    assert broken["train_loss"][-1] > 10 * broken["train_loss"][0], "it does not learn"


def test_the_sweep_chooses_on_the_validation_set(notebook_run):
    for sweep in (notebook_run(NAME).results["sweep"], recorded()["sweep"]):
        assert [row["lr"] for row in sweep["rows"]] == trained_model.SWEEP_LRS
        finished = [row for row in sweep["rows"] if "validation_loss" in row]
        best = min(finished, key=lambda row: row["validation_loss"])
        assert sweep["chosen_lr"] == best["lr"]
        for row in sweep["rows"]:
            assert set(row) <= {"lr", "validation_loss", "validation_accuracy", "diverged"}


def test_on_the_full_mnist_a_forgotten_zero_grad_grew_the_norm_a_thousandfold():
    norms = recorded()["gradient_norms"]["no_zero_grad"]["norms"]["fc1.weight"]
    assert norms[-1] > 1000 * norms[0]


def test_on_the_full_mnist_the_guard_stopped_the_highest_learning_rate():
    """What the page says of the recorded run: 0.1 chosen; 100 stopped by the NaN guard,
    with a one-line message; 10 finished with a loss far above the untrained network's."""
    rows = {row["lr"]: row for row in recorded()["sweep"]["rows"]}
    assert recorded()["sweep"]["chosen_lr"] == 0.1
    assert "diverged" in rows[100.0] and "the loss became nan" in rows[100.0]["diverged"]
    assert [lr for lr, row in rows.items() if "diverged" in row] == [100.0]
    assert rows[10.0]["validation_loss"] > 100 * math.log(10)


def test_the_nan_guard_stops_training_at_the_step_it_happens():
    torch.manual_seed(0)
    net = trained_model.Net()
    data = (torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,)))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    assert len(trained_model.train(net, data, optimizer, 2, torch.Generator())) == 2
    with torch.no_grad():
        net.fc2.bias[3] = float("nan")
    with pytest.raises(FloatingPointError, match="the loss became nan at step 1"):
        trained_model.train(net, data, optimizer, 2, torch.Generator())


def test_the_test_set_is_read_once_and_no_choice_reads_it(notebook_run):
    """Test figures appear only where the trained network is measured, once for each
    preparation; the checklist's figures are all from the training or validation sets."""
    results = notebook_run(NAME).results
    found = []

    def walk(value, path):
        if isinstance(value, dict):
            for key, item in value.items():
                if "test" in key:
                    found.append((*path, key))
                walk(item, (*path, key))
        elif isinstance(value, list):
            for item in value:
                walk(item, path)

    walk(results, ())
    expected = {("test_images",), ("test_accuracy",)} | {
        ("preparations", name, key)
        for name in trained_model.PREPARATIONS
        for key in ("test_accuracy", "test_mean_confidence")
    }
    assert set(found) == expected


# --- 3. Initialisation -------------------------------------------------------------------


def test_pytorchs_default_for_linear_is_uniform_within_one_over_root_fan_in(notebook_run):
    source = inspect.getsource(nn.Linear.reset_parameters)
    assert "init.kaiming_uniform_(self.weight, a=math.sqrt(5))" in source
    default = notebook_run(NAME).results["default_init"]
    assert default["bound"] == pytest.approx(1 / math.sqrt(784))
    assert default["largest"] <= default["bound"]
    assert default["largest"] > 0.99 * default["bound"]
    assert default["std"] == pytest.approx(default["bound"] / math.sqrt(3), rel=0.02)


def test_initialise_fills_every_linear_layer_through_apply():
    net = nn.Sequential(trained_model.Net(), nn.ReLU())
    net.apply(trained_model.initialise(nn.init.zeros_))
    for layer in (net[0].fc1, net[0].fc2):
        assert not layer.weight.any() and not layer.bias.any()


def test_the_initialisation_matters(notebook_run):
    for inits in (notebook_run(NAME).results["inits"], recorded()["inits"]):
        assert set(inits) == set(trained_model.INITS)
        default, zeros, large = inits["default"], inits["zeros"], inits["normal_1"]
        assert abs(default["first_loss"] - math.log(10)) < 0.05
        assert zeros["first_loss"] == pytest.approx(math.log(10), abs=1e-4)
        assert zeros["distinct_hidden_units"] == 1, "every hidden unit the same"
        assert zeros["validation_accuracy"] < 20
        assert large["first_loss"] > 100 * math.log(10)
        assert large["validation_accuracy"] < default["validation_accuracy"] - 5
        for name in ("default", "kaiming_normal", "normal_1"):
            assert inits[name]["distinct_hidden_units"] == 512, name
        assert default["validation_accuracy"] > 90
        assert inits["kaiming_normal"]["validation_accuracy"] > 90


def test_the_default_initialisation_run_is_the_sweeps_chosen_run(notebook_run):
    """The same seed, steps and learning rate: the same network, the same figures."""
    results = notebook_run(NAME).results
    chosen = results["sweep"]["chosen_lr"]
    row = next(row for row in results["sweep"]["rows"] if row["lr"] == chosen)
    assert results["inits"]["default"]["validation_loss"] == row["validation_loss"]


def test_it_saves_its_figure(notebook_run):
    assert (notebook_run(NAME).folder / "trained_model_checklist.png").stat().st_size > 0
