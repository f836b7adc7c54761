"""The claims of "torch.nn's building blocks" (examples/ch07/nn_building_blocks.py), on the subset.

The measured claims read the `results` of the example's one run as a notebook in this session
(tests/conftest.py); the thresholds leave wide room below what the subset gives on the book's
machine, for other machines and versions. The rest check the page's statements about
PyTorch on small tensors.
"""

import pytest
import torch

from examples.ch07 import nn_building_blocks as example
from tests.helpers import REPO

NAME = "ch07/nn_building_blocks"


def test_parameter_counts():
    net = example.Net()
    counts = example.describe_parameters(net)
    assert counts["total"] == 784 * 512 + 512 + 512 * 10 + 10 == 407_050
    assert sum(p.numel() for p in example.sequential_net().parameters()) == counts["total"]


def test_state_dict_round_trip(notebook_run):
    saved = notebook_run(NAME).results["state_dict"]
    assert saved["identical_outputs"]
    assert saved["keys"] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert saved["bytes"] > 407_050 * 4


def test_sequential_names_differ():
    """The page says the class's state_dict does not load into the Sequential version."""
    assert list(example.sequential_net().state_dict()) == [
        "1.weight",
        "1.bias",
        "3.weight",
        "3.bias",
    ]
    with pytest.raises(RuntimeError):
        example.sequential_net().load_state_dict(example.Net().state_dict())


def test_layer_shapes_match_the_page(notebook_run):
    layers = notebook_run(NAME).results["layers"]
    assert layers["shapes"] == {
        "input": [256, 1, 28, 28],
        "Conv2d(1, 16, 3)": [256, 16, 26, 26],
        "MaxPool2d(2)": [256, 16, 13, 13],
        "RNN output": [256, 28, 64],
        "RNN h_n": [1, 256, 64],
        "LSTM output": [256, 28, 64],
        "LSTM h_n": [1, 256, 64],
        "LSTM c_n": [1, 256, 64],
    }
    assert layers["parameter_counts"] == {"conv": 16 * 9 + 16, "rnn": 6016, "lstm": 4 * 6016}


def test_edge_filters_respond_to_edges():
    image = torch.zeros(1, 1, 5, 5)
    image[..., 2:] = 1.0  # dark on the left, bright on the right: a vertical edge
    maps = example.edge_filters()(image).detach()[0]
    assert maps[0, 2, 2] > 0 and maps[1, 2, 2] == 0


def test_largest_derivatives(notebook_run):
    run = notebook_run(NAME)
    largest = run.results["largest_derivative"]
    assert largest["Sigmoid"] == pytest.approx(0.25, abs=1e-4)
    assert largest["Tanh"] == pytest.approx(1.0, abs=1e-4)
    assert largest["ReLU"] == 1.0
    assert (run.folder / "nn_building_blocks_activations.png").stat().st_size > 0


def test_sigmoid_gradient_vanishes(notebook_run):
    results = notebook_run(NAME).results
    norms = results["gradient_norms"]
    assert list(norms) == list(example.ACTIVATIONS)
    assert all(len(values) == example.DEPTH for values in norms.values())
    sigmoid, relu, tanh = norms["Sigmoid"], norms["ReLU"], norms["Tanh"]
    assert sigmoid[0] < 1e-3 * relu[0], "orders of magnitude below ReLU's first layer"
    assert sigmoid[0] < 1e-3 * sigmoid[-1], "shrinks on its way back"
    assert all(later > earlier for earlier, later in zip(sigmoid, sigmoid[1:]))
    for values in (relu, tanh):
        assert values[0] > 0.1 * values[-1], "does not vanish"
    assert results["relu_to_sigmoid_first_layer"] == pytest.approx(relu[0] / sigmoid[0])


def test_sigmoid_network_learns_nothing_in_an_epoch(notebook_run):
    accuracy = notebook_run(NAME).results["deep_test_accuracy"]
    assert accuracy["Sigmoid"] <= 15.0, accuracy
    assert accuracy["ReLU"] >= 25.0 and accuracy["Tanh"] >= 25.0, accuracy


def test_lstm_as_a_building_block():
    """The page: an LSTM returns output, (h_n, c_n), starts from zeros when given no states,
    and has four sets of the RNN's parameters stacked in the RNN's four tensors, each four
    times as tall. (What the four sets compute, the gates, is the RNN page's and its tests'.)"""
    torch.manual_seed(0)
    rnn, lstm = torch.nn.RNN(28, 64), torch.nn.LSTM(28, 64)
    rnn_count = sum(p.numel() for p in rnn.parameters())
    assert sum(p.numel() for p in lstm.parameters()) == 4 * rnn_count == 4 * 6016
    rnn_shapes = {name: p.shape for name, p in rnn.named_parameters()}
    lstm_shapes = {name: p.shape for name, p in lstm.named_parameters()}
    names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert list(lstm_shapes) == list(rnn_shapes) == names
    for name, shape in rnn_shapes.items():
        assert lstm_shapes[name] == (4 * shape[0], *shape[1:]), name
    x = torch.randn(5, 3, 28)  # 5 steps, a batch of 3
    output, (h_n, c_n) = lstm(x)
    zeros = torch.zeros(1, 3, 64)
    same, (same_h, same_c) = lstm(x, (zeros, zeros))
    assert h_n.shape == c_n.shape == (1, 3, 64)
    assert torch.equal(output, same) and torch.equal(c_n, same_c)


def test_initialisations_as_the_page_gives_them():
    """The page: Glorot's initialisation has a variance of 2 / (inputs + outputs); PyTorch's
    default for nn.Linear is uniform with a variance of 1 / (3 x inputs), a third of Glorot's
    for a square layer."""
    torch.manual_seed(0)
    inputs = outputs = 512
    default = torch.nn.Linear(inputs, outputs).weight.detach()
    bound = 1 / inputs**0.5
    assert default.abs().max() <= bound and default.abs().max() > 0.99 * bound  # uniform
    assert default.var().item() == pytest.approx(1 / (3 * inputs), rel=0.02)
    glorot = torch.nn.init.xavier_normal_(torch.empty(outputs, inputs))
    assert glorot.var().item() == pytest.approx(2 / (inputs + outputs), rel=0.02)
    assert default.var().item() == pytest.approx(glorot.var().item() / 3, rel=0.03)


def test_net_flattens_each_image_into_one_row():
    """The page: x.flatten(1) keeps the batch dimension and lays each image out as 784
    numbers, as the manuscript's view(-1, 784) does for MNIST's images."""
    x = torch.randn(5, 1, 28, 28)
    assert torch.equal(x.flatten(1), x.view(-1, 784))
    torch.manual_seed(0)
    net = example.Net()
    assert net(x).shape == (5, 10)


def test_default_initialisation_would_hide_the_contrast():
    """The example's comment: with PyTorch's default initialisation instead of Glorot's, the
    gradient would shrink ten layers deep with ReLU too."""
    (train_x, train_y), _ = example.load_mnist(str(REPO / "tests" / "data"))
    images, labels = train_x[:256], train_y[:256]

    def default_init_mlp(activation):
        torch.manual_seed(0)
        sizes = [784] + [example.WIDTH] * (example.DEPTH - 1) + [10]
        layers = [torch.nn.Flatten()]
        for i in range(example.DEPTH):
            layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
            if i < example.DEPTH - 1:
                layers.append(activation())
        return torch.nn.Sequential(*layers)

    default = example.gradient_norms(default_init_mlp(torch.nn.ReLU), images, labels)
    glorot = example.gradient_norms(example.deep_mlp(torch.nn.ReLU), images, labels)
    assert default[0] < 0.2 * default[-1], default
    assert glorot[0] > 0.5 * glorot[-1], glorot
