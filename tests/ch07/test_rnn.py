"""The claims of "A recurrent network: reading a digit row by row" (examples/ch07/rnn.py).

On the subset, they read the `results` of the example's one run as a notebook in this session
(tests/conftest.py); the thresholds sit well below what the subset gives on the book's
machine, to leave room for other machines and versions. The comparisons on the full MNIST
are checked against the recorded runs, which the page quotes.
"""

import json

import torch

from examples.ch07 import rnn
from tests.helpers import REPO, check_validation_per_epoch_and_test_once, evaluations_of_main


def test_trains_and_learns_on_the_subset(notebook_run):
    run = notebook_run("ch07/rnn")
    history = run.results["history"]
    assert [row["epoch"] for row in history] == list(range(1, rnn.EPOCHS + 1))
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"], "at least halves"
    assert history[-1]["validation_loss"] < history[0]["validation_loss"], "it should fall"
    assert run.results["validation_accuracy"] == history[-1]["validation_accuracy"] >= 75.0
    assert run.results["test_accuracy"] >= 75.0
    assert len(run.results["validation_accuracy_per_row"]) == 28
    assert (run.folder / "rnn_reading.png").stat().st_size > 0


def test_validation_per_epoch_and_the_test_set_once_at_the_end(notebook_run):
    """One training image in twelve is held out; each epoch reports training and validation
    figures only; the test figures appear once, for the final network; the pictures read
    the validation set."""
    results = notebook_run("ch07/rnn").results
    check_validation_per_epoch_and_test_once(results)
    per_row = results["validation_accuracy_per_row"]
    assert abs(per_row[-1] - results["validation_accuracy"]) < 0.02, "the same network"


def test_the_program_evaluates_the_test_set_once_after_training(tmp_path, monkeypatch):
    """main() on random stand-ins for MNIST: which data each call of evaluate reads."""
    torch.manual_seed(0)
    train_set = (torch.randn(240, 28, 28), torch.randint(0, 10, (240,)))
    test_set = (torch.randn(50, 28, 28), torch.randint(0, 10, (50,)))
    monkeypatch.chdir(tmp_path)  # the figure's folder, checked before training
    (_, (valid_x, _), results), read = evaluations_of_main(rnn, monkeypatch, train_set, test_set)
    assert read == ["other", "other", "test"], "validation each epoch, then the test set once"
    assert len(valid_x) == results["validation_images"] == 20 and results["test_images"] == 50


def test_parameter_counts_on_the_page():
    net = rnn.RowReader()

    def count(module):
        return sum(p.numel() for p in module.parameters())

    assert count(net.lstm) == 4 * (28 * 128 + 128 * 128 + 2 * 128) == 80_896
    assert count(net.fc) == 1_290 and count(net) == 82_186


def test_the_lstm_computes_the_page_s_equations():
    """nn.LSTM, one step from a given (h, c): the gates i, f, o (sigmoid) and the candidate g
    (tanh) from the row and the previous hidden state; c_t = f * c + i * g and
    h_t = o * tanh(c_t); and along the cell's own path the derivative is f alone."""
    torch.manual_seed(0)
    lstm = rnn.RowReader().lstm
    x = torch.randn(3, 1, 28)
    h0 = torch.randn(1, 3, 128)
    c0 = torch.randn(1, 3, 128, requires_grad=True)
    _, (h1, c1) = lstm(x, (h0, c0))
    pre = (
        x[:, 0] @ lstm.weight_ih_l0.T
        + lstm.bias_ih_l0
        + h0[0] @ lstm.weight_hh_l0.T
        + lstm.bias_hh_l0
    )
    i, f, g, o = pre.chunk(4, dim=1)  # PyTorch's order: input, forget, cell (candidate), output
    i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
    assert torch.allclose(c1[0], f * c0[0] + i * g, atol=1e-6)
    assert torch.allclose(h1[0], o * torch.tanh(c1[0]), atol=1e-6)
    (gradient,) = torch.autograd.grad(c1.sum(), c0)
    assert torch.allclose(gradient[0], f, atol=1e-6), "dc_t/dc_(t-1) = f_t, no U, no slope"


def test_multiply_adds_per_image_on_the_page():
    """About 2.2 million in the LSTM, five times the chapter's network's 0.4 million."""
    lstm = rnn.RowReader().lstm
    per_step = lstm.weight_ih_l0.numel() + lstm.weight_hh_l0.numel()
    lstm_macs = 28 * per_step
    assert lstm_macs == 28 * 4 * (28 * 128 + 128 * 128) and round(lstm_macs / 1e6, 1) == 2.2
    mlp_macs = 784 * 512 + 512 * 10
    assert round(mlp_macs / 1e6, 1) == 0.4 and lstm_macs > 5 * mlp_macs


def test_the_last_four_rows_hold_little_ink():
    """The page: the climb over the last four rows is not because they hold much ink."""
    from torchvision.datasets.mnist import read_image_file

    images = read_image_file(str(REPO / "tests/data/MNIST/raw/t10k-images-idx3-ubyte"))
    ink = images.float().sum(dim=(0, 2))
    assert ink[24:].sum() < 0.05 * ink.sum()


def test_reads_28_rows_and_answers_after_the_last():
    torch.manual_seed(0)
    net = rnn.RowReader().eval()
    images = torch.randn(5, 28, 28)
    with torch.no_grad():
        every = net(images, every_step=True)
        last = net(images)
        # Changing the last row changes only the last step's answer.
        changed = images.clone()
        changed[:, -1] += 1.0
        every_changed = net(changed, every_step=True)
    assert every.shape == (5, 28, 10) and last.shape == (5, 10)
    assert torch.allclose(every[:, -1], last)
    assert torch.equal(every[:, :-1], every_changed[:, :-1])
    assert not torch.allclose(every[:, -1], every_changed[:, -1])


def test_same_guess_while_only_blank_rows_have_passed():
    torch.manual_seed(0)
    net = rnn.RowReader().eval()
    blank = rnn.normalise(torch.zeros(1, 28, 28, dtype=torch.uint8))
    images = blank.repeat(3, 1, 1)
    images[:, 5:] = torch.randn(3, 23, 28)  # three digits that start at row 6
    with torch.no_grad():
        every = net(images, every_step=True)
    assert torch.equal(every[0, :5], every[1, :5]) and torch.equal(every[0, :5], every[2, :5])
    assert not torch.allclose(every[0, 5], every[1, 5])


def recorded(section):
    notebook = json.loads((REPO / f"docs/notebooks/ch07/{section}.ipynb").read_text())
    return notebook["metadata"]["recorded_run"]["results"]


def test_recorded_run_on_the_full_mnist():
    results = recorded("rnn")
    assert results["train_images"] == 55_000 and results["validation_images"] == 5_000
    assert results["test_images"] == 10_000
    per_row = results["validation_accuracy_per_row"]
    assert len(per_row) == 28 and abs(per_row[-1] - results["validation_accuracy"]) < 0.02


def test_recorded_runs_rank_as_the_page_says():
    """Better than the chapter's MLP, below the CNN; poor answers before the last rows."""
    accuracy = recorded("rnn")["test_accuracy"]
    assert recorded("mnist_mlp")["test_accuracy"] < accuracy < recorded("cnn")["test_accuracy"]
    per_row = recorded("rnn")["validation_accuracy_per_row"]
    assert per_row[19] < 75 and per_row[19] < per_row[23] < per_row[-1]
