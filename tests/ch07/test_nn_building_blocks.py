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


def test_lstm_has_four_sets_and_its_cell_passes_the_gradient_through_the_forget_gate():
    """The page: three gates and the candidate make four sets of the RNN's parameters, and on
    the cell's own path back through the steps the gradient is multiplied by the forget gate
    alone. With the recurrent weights set to zero (so that the gates read only the inputs), the
    gradient of the last cell state with respect to the first is the product of the forget
    gates, which PyTorch computes with the second of the four blocks of weights."""
    torch.manual_seed(0)
    rnn, lstm = torch.nn.RNN(3, 4), torch.nn.LSTM(3, 4)
    assert sum(p.numel() for p in lstm.parameters()) == 4 * sum(p.numel() for p in rnn.parameters())
    with torch.no_grad():
        lstm.weight_hh_l0.zero_()
    x = torch.randn(6, 1, 3)  # 6 steps, a batch of 1
    h0 = torch.zeros(1, 1, 4)
    c0 = torch.randn(1, 1, 4, requires_grad=True)
    _, (_, c_n) = lstm(x, (h0, c0))
    (through_cell,) = torch.autograd.grad(c_n.sum(), c0)
    w_f, b_f = lstm.weight_ih_l0[4:8], lstm.bias_ih_l0[4:8] + lstm.bias_hh_l0[4:8]
    forget = torch.sigmoid(x[:, 0] @ w_f.T + b_f)  # (6 steps, 4 units)
    assert torch.allclose(through_cell[0, 0], forget.prod(dim=0))


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
