# %% [markdown]
# # torch.nn's building blocks, as a notebook
#
# The pieces every PyTorch network is made of: `nn.Module`, `nn.Linear`,
# `nn.Sequential`, `nn.Conv2d`, `nn.RNN` and `nn.LSTM`, parameters and the
# `state_dict` that saves them. Then the activation functions ReLU, Sigmoid
# and Tanh with their derivatives, and a measurement of why the derivative
# matters: the vanishing gradient of a deep sigmoid network.

# %%
# --8<-- [start:setup]
# --8<-- [start:imports]
import errno
import os
import tempfile

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels, scaled to [0, 1]
# --8<-- [end:imports]


# --8<-- [start:data]
def normalise(images):
    """uint8 images (N, 28, 28) -> float32 (N, 1, 28, 28), exactly as
    ToTensor() followed by Normalize((MEAN,), (STD,)) makes them."""
    return images.unsqueeze(1).float().div(255).sub(MEAN).div(STD)


def load_mnist(data_dir="./data", device="cpu"):
    """Both MNIST splits as normalised tensors on the device: the images are
    decoded and normalised once, not once per image per epoch. MNIST is
    downloaded into data_dir if it is not there."""
    try:
        splits = [
            torchvision.datasets.MNIST(data_dir, train=train, download=True)
            for train in (True, False)
        ]
    except Exception as error:  # missing or damaged: one line, no traceback
        raise SystemExit(mnist_error(data_dir, error)) from None
    return [
        (normalise(split.data).to(device), split.targets.to(device))
        for split in splits
    ]
    # --8<-- [end:data]
    # --8<-- [end:setup]


# %%
# One line, not a traceback, for what a reader gets wrong
# --8<-- [start:errors]
MNIST_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


def mnist_error(data_dir, error):
    """Why MNIST could not be loaded, and what to do, in one line: its files
    are missing and could not be downloaded, or one of them is damaged."""
    raw = os.path.join(data_dir, "MNIST", "raw", "")  # ends with a "/"
    reason = (str(error).strip().splitlines() or [type(error).__name__])[-1]
    if not all(os.path.isfile(raw + name) for name in MNIST_FILES):
        return (
            f"error: MNIST is not in {raw} and could not be downloaded "
            f"({reason}). Offline? Copy the four uncompressed MNIST files "
            f"there: {', '.join(MNIST_FILES)}"
        )
    for name in MNIST_FILES:  # all four are there: is one of them damaged?
        try:
            if "images" in name:
                torchvision.datasets.mnist.read_image_file(raw + name)
            else:
                torchvision.datasets.mnist.read_label_file(raw + name)
        except Exception:
            return (
                f"error: {raw + name} is damaged: delete it and run again to "
                f"download it afresh, or replace it with a good copy"
            )
    return f"error: MNIST in {raw} could not be loaded ({reason})"


def check_writable(*paths):
    """Stop at once, before any training, if a file that the program will
    write later cannot be written (None stands for a file not asked for)."""
    for path in paths:
        if path is None:
            continue
        folder = os.path.dirname(path) or "."
        try:
            if os.path.isdir(path):
                raise IsADirectoryError(errno.EISDIR, "it is a folder")
            if os.path.isfile(folder):
                raise NotADirectoryError(errno.ENOTDIR, f"{folder} is a file")
            os.makedirs(folder, exist_ok=True)  # as writing it would
            with tempfile.TemporaryFile(dir=folder):
                pass  # the folder takes new files
            if os.path.exists(path) and not os.access(path, os.W_OK):
                raise PermissionError(errno.EACCES, "it is read-only")
        except OSError as error:
            raise SystemExit(
                f"error: cannot write {path} ({error.strerror or error}); "
                f"stopped before doing anything"
            ) from None
    # --8<-- [end:errors]


# %%
# --8<-- [start:module]
class Net(nn.Module):
    """The chapter's network: 784 -> 512 (ReLU) -> 10."""

    def __init__(self):
        super().__init__()  # sets up the bookkeeping of nn.Module
        # Layers assigned as attributes are registered as submodules, and
        # their weights as the network's parameters.
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 10)

    def forward(self, x):  # called by net(x)
        x = x.flatten(1)  # (B, 1, 28, 28) -> (B, 784): one row per image
        return self.fc2(torch.relu(self.fc1(x)))


def describe_parameters(net):
    """Each parameter's name and shape, and how many numbers it holds."""
    rows = [
        {"name": name, "shape": list(p.shape), "count": p.numel()}
        for name, p in net.named_parameters()
    ]
    for row in rows:
        print(f"{row['name']:12} {str(row['shape']):12} {row['count']:>9,}")
    total = sum(row["count"] for row in rows)
    print(f"{'total':25} {total:>9,}")
    return {"parameters": rows, "total": total}
    # --8<-- [end:module]


# %%
# --8<-- [start:sequential]
def sequential_net():
    """The same network as a pipeline: each module's output is the next
    one's input. No class, no forward() to write."""
    return nn.Sequential(
        nn.Flatten(),  # (B, 1, 28, 28) -> (B, 784)
        nn.Linear(784, 512),
        nn.ReLU(),  # activations are modules too
        nn.Linear(512, 10),
    )
    # --8<-- [end:sequential]


# %%
# --8<-- [start:save]
def save_and_load(net, images, path="net_weights.pt"):
    """A state_dict round trip: save the weights, load them into a new
    network, and check that it computes exactly the same outputs."""
    state = net.state_dict()  # an ordered dict: parameter name -> tensor
    torch.save(state, path)
    fresh = Net().to(images.device)  # new random weights...
    # ...replaced by the saved ones. weights_only=True reads tensors and
    # plain containers only, never arbitrary pickled code.
    fresh.load_state_dict(torch.load(path, weights_only=True))
    with torch.no_grad():
        same = torch.equal(net(images), fresh(images))
    print(
        f"saved {len(state)} tensors, {os.path.getsize(path):,} bytes; "
        f"outputs identical after loading: {same}"
    )
    return {
        "keys": list(state),
        "bytes": os.path.getsize(path),
        "identical_outputs": same,
    }
    # --8<-- [end:save]


# %%
# --8<-- [start:conv]
def edge_filters():
    """A Conv2d with two 3x3 filters set by hand: one responds to vertical
    edges (dark to bright from left to right), one to horizontal edges."""
    conv = nn.Conv2d(
        in_channels=1, out_channels=2, kernel_size=3, padding=1, bias=False
    )
    vertical = torch.tensor(
        [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]
    )
    with torch.no_grad():  # setting weights is not part of training
        conv.weight[0, 0] = vertical
        conv.weight[1, 0] = vertical.T
    return conv


def plot_feature_maps(digit, maps):
    fig, axes = plt.subplots(1, 3, figsize=(8, 3))
    axes[0].imshow(digit[0], cmap="gray")
    axes[0].set_title("the digit")
    for ax, image, title in zip(
        axes[1:], maps, ["vertical edges", "horizontal edges"]
    ):
        limit = image.abs().max().item()
        # Red where the filter responds positively, blue where negatively.
        ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(title)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig("nn_building_blocks_conv.png", dpi=100)
    return fig


def shapes_of_layers(images):
    """What each kind of layer makes of a batch of MNIST digits."""
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 16, kernel_size=3)  # 16 filters, no padding
    pool = nn.MaxPool2d(2)  # the largest of each 2x2 block
    # A recurrent layer reads a digit as a sequence: 28 rows, one per step,
    # each row a vector of 28 pixels.
    rnn = nn.RNN(input_size=28, hidden_size=64, batch_first=True)
    lstm = nn.LSTM(input_size=28, hidden_size=64, batch_first=True)
    rows = images.squeeze(1)  # (B, 28, 28) = (B, steps, 28)
    with torch.no_grad():
        feature_maps = conv(images)
        pooled = pool(feature_maps)
        rnn_out, rnn_h = rnn(rows)
        lstm_out, (lstm_h, lstm_c) = lstm(rows)
    table = {
        "input": images,
        "Conv2d(1, 16, 3)": feature_maps,
        "MaxPool2d(2)": pooled,
        "RNN output": rnn_out,
        "RNN h_n": rnn_h,
        "LSTM output": lstm_out,
        "LSTM h_n": lstm_h,
        "LSTM c_n": lstm_c,
    }
    for name, tensor in table.items():
        print(f"{name:17} {tuple(tensor.shape)}")
    counts = {
        name: sum(p.numel() for p in layer.parameters())
        for name, layer in [("conv", conv), ("rnn", rnn), ("lstm", lstm)]
    }
    print(f"parameters: {counts}")
    return {
        "shapes": {k: list(v.shape) for k, v in table.items()},
        "parameter_counts": counts,
    }
    # --8<-- [end:conv]


# %%
# --8<-- [start:activations]
ACTIVATIONS = {
    "ReLU": (nn.ReLU, "C1"),  # the class, and a colour of the style in use
    "Sigmoid": (nn.Sigmoid, "C0"),
    "Tanh": (nn.Tanh, "C2"),
}


def plot_activations():
    """Each activation and its derivative, which autograd computes for us:
    the gradient of sum(f(x)) with respect to x is f'(x), point by point."""
    x = torch.linspace(-6, 6, 1201, requires_grad=True)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), sharey=True)
    largest = {}
    for ax, (name, (activation, colour)) in zip(axes, ACTIVATIONS.items()):
        y = activation()(x)
        (slope,) = torch.autograd.grad(y.sum(), x)
        largest[name] = slope.max().item()
        ax.plot(x.detach(), y.detach(), color=colour, label=name)
        ax.plot(
            x.detach(),
            slope,
            color=colour,
            linestyle="--",
            label="its derivative",
        )
        ax.axhline(0, color="0.5", linewidth=0.5)  # grey: light or dark page
        ax.set_title(name)
        ax.set_xlabel("x")
        ax.set_ylim(-1.2, 2.2)
        ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig("nn_building_blocks_activations.png", dpi=100)
    print(
        "largest derivative:",
        {name: round(value, 4) for name, value in largest.items()},
    )
    return largest
    # --8<-- [end:activations]


# %%
# --8<-- [start:vanishing]
DEPTH, WIDTH = 10, 128


def deep_mlp(activation):
    """DEPTH Linear layers, the activation after each but the last."""
    torch.manual_seed(0)  # the same initial weights for every activation
    sizes = [784] + [WIDTH] * (DEPTH - 1) + [10]
    layers = [nn.Flatten()]
    for i in range(DEPTH):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        # Glorot's initialisation, derived to keep the size of the signal
        # and of the gradient steady from layer to layer, leaves it to the
        # activation whether the gradient vanishes. With PyTorch's default,
        # it would shrink ten layers deep with ReLU too, and hide what we
        # want to see.
        nn.init.xavier_normal_(linear.weight)
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < DEPTH - 1:
            layers.append(activation())
    return nn.Sequential(*layers)


def gradient_norms(net, images, labels):
    """The norm of the loss's gradient with respect to each layer's
    weights, first layer first, after one backward pass."""
    net.zero_grad()
    F.cross_entropy(net(images), labels).backward()
    return [
        layer.weight.grad.norm().item()
        for layer in net
        if isinstance(layer, nn.Linear)
    ]


def plot_gradient_norms(norms):
    fig, ax = plt.subplots(figsize=(7, 4))
    layers = range(1, DEPTH + 1)
    for name, values in norms.items():
        ax.plot(
            layers, values, marker="o", color=ACTIVATIONS[name][1], label=name
        )
    ax.set_yscale("log")
    ax.set_xticks(list(layers))
    ax.set_xlabel("layer (1 = next to the input)")
    ax.set_ylabel("norm of the weights' gradient")
    ax.set_title(f"A {DEPTH}-layer network, before training")
    ax.legend()
    fig.tight_layout()
    fig.savefig("nn_building_blocks_gradients.png", dpi=100)
    return fig


def train_briefly(
    net, train_x, train_y, test_x, test_y, lr=0.1, batch_size=64
):
    """One epoch of plain SGD; the test accuracy (%) afterwards."""
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    order = torch.randperm(
        len(train_x), generator=torch.Generator().manual_seed(0)
    ).to(train_x.device)
    for start in range(0, len(train_x), batch_size):
        batch = order[start : start + batch_size]
        optimizer.zero_grad()
        F.cross_entropy(net(train_x[batch]), train_y[batch]).backward()
        optimizer.step()
    with torch.no_grad():
        predictions = net(test_x).argmax(dim=1)
    return (predictions == test_y).float().mean().item() * 100
    # --8<-- [end:vanishing]


# %%
# --8<-- [start:main]
def main():
    check_writable(
        "net_weights.pt",
        "nn_building_blocks_conv.png",
        "nn_building_blocks_activations.png",
        "nn_building_blocks_gradients.png",
    )  # saved at the end
    # The accelerator (a GPU) if there is one, else the CPU: training the
    # three deep networks for an epoch is the one long part of this page.
    device = (
        torch.accelerator.current_accelerator()
        if torch.accelerator.is_available()
        else torch.device("cpu")
    )
    (train_x, train_y), (test_x, test_y) = load_mnist(device=device)
    images, labels = train_x[:256], train_y[:256]

    torch.manual_seed(0)
    net = Net().to(device)
    counts = describe_parameters(net)
    sequential_count = sum(p.numel() for p in sequential_net().parameters())
    print(f"the nn.Sequential version has {sequential_count:,} parameters")
    saved = save_and_load(net, images)

    with torch.no_grad():
        edges = edge_filters().to(device)(images[:1])[0]
    # matplotlib draws from the CPU's memory; and a layer's output has the
    # same shape on any device.
    plot_feature_maps(images[0].cpu(), edges.cpu())
    shapes = shapes_of_layers(images.cpu())
    largest = plot_activations()

    norms = {
        name: gradient_norms(deep_mlp(activation).to(device), images, labels)
        for name, (activation, _) in ACTIVATIONS.items()
    }
    for name, values in norms.items():
        print(
            f"{name:8} gradient norm, layer 1: {values[0]:.2e}, "
            f"layer {DEPTH}: {values[-1]:.2e}"
        )
    plot_gradient_norms(norms)
    accuracy = {
        name: train_briefly(
            deep_mlp(activation).to(device), train_x, train_y, test_x, test_y
        )
        for name, (activation, _) in ACTIVATIONS.items()
    }
    print(
        "test accuracy after one epoch of SGD:",
        {name: f"{value:.2f} %" for name, value in accuracy.items()},
    )
    return {
        "device": str(device),
        "train_images": len(train_x),
        "test_images": len(test_x),
        "mlp": counts,
        "sequential_total": sequential_count,
        "state_dict": saved,
        "layers": shapes,
        "largest_derivative": largest,
        "gradient_norms": norms,
        "first_to_last": {
            name: values[0] / values[-1] for name, values in norms.items()
        },
        "relu_to_sigmoid_first_layer": norms["ReLU"][0] / norms["Sigmoid"][0],
        "deep_test_accuracy": accuracy,
    }


if __name__ == "__main__":
    results = main()
# --8<-- [end:main]
