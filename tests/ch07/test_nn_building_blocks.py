"""The claims of "torch.nn's building blocks" (examples/ch07/nn_building_blocks.py), on the subset.

Measured on the MNIST subset (4,000 training and 1,000 test digits, torch 2.14.1, 2 CPU cores):
before training, the 10-layer sigmoid network's first-layer gradient norm was 1.0e-05 against
0.92 at its last layer, while the ReLU network's was 0.14 (about 13,600 times the sigmoid's);
after one epoch of SGD (63 steps) the sigmoid network scored 10.00 %, chance level, the ReLU
one 34 to 37 % (depending on the thread count) and the Tanh one 78.60 %. The thresholds below
leave wide room for other machines and versions.
"""

import pytest
import torch

from examples.ch07 import nn_building_blocks as example
from tests.helpers import REPO

DATA = str(REPO / "tests" / "data")


@pytest.fixture(scope="module")
def mnist():
    return example.load_mnist(DATA)


def test_parameter_counts():
    net = example.Net()
    counts = example.describe_parameters(net)
    assert counts["total"] == 784 * 512 + 512 + 512 * 10 + 10 == 407_050
    assert sum(p.numel() for p in example.sequential_net().parameters()) == counts["total"]


def test_state_dict_round_trip(mnist, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (train_x, _), _ = mnist
    torch.manual_seed(0)
    saved = example.save_and_load(example.Net(), train_x[:32])
    assert saved["identical_outputs"]
    assert saved["keys"] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert saved["bytes"] > 407_050 * 4


def test_sequential_names_differ():
    """The page says the class's state_dict does not load into the Sequential version."""
    assert list(example.sequential_net().state_dict()) == ["1.weight", "1.bias", "3.weight", "3.bias"]
    with pytest.raises(RuntimeError):
        example.sequential_net().load_state_dict(example.Net().state_dict())


def test_layer_shapes_match_the_page(mnist):
    (train_x, _), _ = mnist
    layers = example.shapes_of_layers(train_x[:256])
    assert layers["shapes"] == {
        "input": [256, 1, 28, 28], "Conv2d(1, 16, 3)": [256, 16, 26, 26],
        "MaxPool2d(2)": [256, 16, 13, 13], "RNN output": [256, 28, 64], "RNN h_n": [1, 256, 64],
        "LSTM output": [256, 28, 64], "LSTM h_n": [1, 256, 64], "LSTM c_n": [1, 256, 64]}
    assert layers["parameter_counts"] == {"conv": 16 * 9 + 16, "rnn": 6016, "lstm": 4 * 6016}


def test_edge_filters_respond_to_edges():
    image = torch.zeros(1, 1, 5, 5)
    image[..., 2:] = 1.0  # dark on the left, bright on the right: a vertical edge
    maps = example.edge_filters()(image).detach()[0]
    assert maps[0, 2, 2] > 0 and maps[1, 2, 2] == 0


def test_largest_derivatives(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    largest = example.plot_activations()
    assert largest["Sigmoid"] == pytest.approx(0.25, abs=1e-4)
    assert largest["Tanh"] == pytest.approx(1.0, abs=1e-4)
    assert largest["ReLU"] == 1.0
    assert (tmp_path / "nn_building_blocks_activations.png").stat().st_size > 0


def test_sigmoid_gradient_vanishes(mnist):
    (train_x, train_y), _ = mnist
    images, labels = train_x[:256], train_y[:256]
    norms = {name: example.gradient_norms(example.deep_mlp(activation), images, labels)
             for name, (activation, _) in example.ACTIVATIONS.items()}
    assert all(len(values) == example.DEPTH for values in norms.values())
    sigmoid, relu, tanh = norms["Sigmoid"], norms["ReLU"], norms["Tanh"]
    assert sigmoid[0] < 1e-3 * relu[0], "orders of magnitude below ReLU's first layer"
    assert sigmoid[0] < 1e-3 * sigmoid[-1], "shrinks on its way back"
    assert all(later > earlier for earlier, later in zip(sigmoid, sigmoid[1:]))
    for values in (relu, tanh):
        assert values[0] > 0.1 * values[-1], "does not vanish"


def test_sigmoid_network_learns_nothing_in_an_epoch(mnist):
    (train_x, train_y), (test_x, test_y) = mnist
    accuracy = {name: example.train_briefly(example.deep_mlp(activation), train_x, train_y,
                                            test_x, test_y)
                for name, (activation, _) in example.ACTIVATIONS.items()}
    assert accuracy["Sigmoid"] <= 15.0, accuracy
    assert accuracy["ReLU"] >= 25.0 and accuracy["Tanh"] >= 25.0, accuracy
