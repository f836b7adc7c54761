"""The claims of "Regularization" (examples/ch07/regularization.py), on the MNIST subset.

Measured on the subset (the first 1,000 of its 4,000 training digits, its 1,000 test digits,
torch 2.14.1, 2 CPU cores): after 40 epochs the network without regularization reached
100 % training accuracy and about 90 % test accuracy, a gap of about 10 points; every
variant ended within a point or two of that. The page's comparison between regularizers
is taken from the recorded full-MNIST run, not tested here: on 1,000 test digits a
difference of one point is ten digits.
"""

import re

import torch
import torch.nn as nn

from examples.ch07 import regularization
from tests.helpers import describe

MODULE = "examples.ch07.regularization"
FINAL_LINE = re.compile(r"^(.+?)\s+train accuracy\s+([\d.]+) %\s+test accuracy\s+([\d.]+) %"
                        r"\s+gap\s+([\d.-]+)", re.MULTILINE)


def finals(stdout):
    return {m[1].strip(): (float(m[2]), float(m[3]), float(m[4]))
            for m in FINAL_LINE.finditer(stdout)}


def test_the_small_training_set_is_overfitted(example_run):
    result = example_run(MODULE)
    assert result.returncode == 0, describe(result)
    rows = finals(result.stdout)
    names = [name for name, _, _ in regularization.VARIANTS.values()]
    assert list(rows) == names, describe(result)
    train_accuracy, test_accuracy, gap = rows["no regularization"]
    assert train_accuracy >= 99.0, "the baseline learns its 1,000 images by heart"
    assert gap >= 5.0, f"a gap of {gap} points is too small to call overfitting"
    for name, (train_accuracy, test_accuracy, gap) in rows.items():
        assert abs(train_accuracy - test_accuracy - gap) < 0.02, name
        assert test_accuracy >= 80.0, f"{name}: {test_accuracy} % on the subset"


def test_train_and_eval_modes():
    """What the page shows: dropout makes train() outputs random, eval() is deterministic,
    and the two modes disagree."""
    modes = regularization.show_modes()
    assert modes == {"train_twice_equal": False, "eval_twice_equal": True,
                     "train_eval_equal": False}


def test_a_forward_pass_in_train_mode_updates_running_statistics():
    """The page warns that evaluating in train() mode changes batch norm's running
    statistics, even under torch.no_grad()."""
    torch.manual_seed(0)
    norm = nn.BatchNorm1d(4)
    before = norm.running_mean.clone()
    with torch.no_grad():
        norm.eval()
        norm(torch.randn(8, 4) + 3)
        assert torch.equal(norm.running_mean, before)
        norm.train()
        norm(torch.randn(8, 4) + 3)
    assert not torch.equal(norm.running_mean, before)


def test_baseline_is_the_chapters_network():
    """Without options the network has exactly the chapter's 407,050 parameters."""
    net = regularization.Net()
    assert sum(p.numel() for p in net.parameters()) == 784 * 512 + 512 + 512 * 10 + 10 == 407050
    with_norm = regularization.Net(batch_norm=True)
    assert sum(p.numel() for p in with_norm.parameters()) == 407050 + 2 * 512
