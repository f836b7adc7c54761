# %% [markdown]
# # The Code's exercises, solved
#
# The worked solutions to the exercises at the end of the book's page "The
# Code: Building Neural Networks", one cell each, after the cells they share.
# Run it cell by cell here, or as a script with
# `python -m examples.ch07.mnist_mlp_exercises`. On the full MNIST it takes
# less than a minute on one core of the book's machine.

# %%
# --8<-- [start:setup]
import errno
import math
import os
import tempfile
import time

import torch
import torch.nn as nn
import torchvision

MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels, scaled to [0, 1]
DATA_DIR = "./data"
results = {}  # what each solution measured: the page quotes it


def make_net(activation=nn.ReLU):
    """The chapter's network, 784 -> 512 -> 10, with a choice of the
    function between its two layers (None: none at all)."""
    hidden = [activation()] if activation else []
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 512), *hidden, nn.Linear(512, 10)
    )


def fit(net, epochs=1, batch_size=64, lr=0.01, momentum=0.5):
    """Train as the chapter's program does (SGD with momentum, shuffled
    batches) on the training images; return the seconds it took."""
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    start = time.perf_counter()
    net.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(train_images)).split(batch_size):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(
                net(train_images[batch]), train_labels[batch]
            )
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start


@torch.no_grad()
def accuracy(net):
    """The percentage of test digits the network reads correctly."""
    net.eval()
    predicted = net(test_images).argmax(dim=1)
    return 100 * (predicted == test_labels).float().mean().item()
    # --8<-- [end:setup]


# %%
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


# %%
# --8<-- [start:load]
(train_images, train_labels), (test_images, test_labels) = load_mnist(DATA_DIR)
print(f"{len(train_images):,} training and {len(test_images):,} test images")
# --8<-- [end:load]

# %% [markdown]
# ## 1. Count the parameters

# %%
# --8<-- [start:count]
net = make_net()
first, second = net[1], net[3]  # the two nn.Linear layers
for layer in (first, second):
    print(f"{layer}: {layer.weight.numel() + layer.bias.numel():,}")
total = sum(parameter.numel() for parameter in net.parameters())
share = (first.weight.numel() + first.bias.numel()) / total
print(f"in all {total:,}, of which the first layer holds {100 * share:.1f} %")
results["count"] = {"parameters": total, "first_layer_percent": 100 * share}
# --8<-- [end:count]

# %% [markdown]
# ## 2. Predict, then run: no ReLU

# %%
# --8<-- [start:no_relu]
results["no_relu"] = {}
for name, activation in (("ReLU", nn.ReLU), ("none", None)):
    torch.manual_seed(1)
    net = make_net(activation)
    fit(net, epochs=2)
    results["no_relu"][name] = accuracy(net)
    print(f"between the layers: {name:4}  test accuracy {accuracy(net):.2f} %")

# Without it, the two layers are one: W2 (W1 x + b1) + b2 = W x + b
first, second = net[1], net[2]
one_layer = nn.Linear(784, 10)
with torch.no_grad():
    one_layer.weight.copy_(second.weight @ first.weight)
    one_layer.bias.copy_(second.weight @ first.bias + second.bias)
    difference = (one_layer(test_images.flatten(1)) - net(test_images)).abs()
print(
    "one 784 -> 10 layer gives the same outputs, to within "
    f"{difference.max().item():.1e}"
)
results["no_relu"]["one_layer_difference"] = difference.max().item()
# --8<-- [end:no_relu]

# %% [markdown]
# ## 3. Batch size and the number of steps

# %%
# --8<-- [start:batch_size]
results["batch_size"] = []
for batch_size in (32, 64, 128):
    torch.manual_seed(1)
    net = make_net()
    seconds = fit(net, epochs=1, batch_size=batch_size)
    steps = math.ceil(len(train_images) / batch_size)
    print(
        f"batch {batch_size:3}: {steps:5,} steps, {seconds:4.1f} s, "
        f"test accuracy {accuracy(net):.2f} % after one epoch"
    )
    results["batch_size"].append(
        {
            "batch_size": batch_size,
            "steps": steps,
            "seconds": seconds,
            "accuracy": accuracy(net),
        }
    )
# --8<-- [end:batch_size]

# %% [markdown]
# ## 4. Why `net.eval()` and `torch.no_grad()` in `test()`?

# %%
# --8<-- [start:eval_no_grad]
net.train()
in_training = net(test_images)
net.eval()
in_evaluation = net(test_images)
same = torch.equal(in_training, in_evaluation)
print("train() and eval() give the same outputs:", same)
print(
    "with gradients, the output remembers how it was made:",
    in_evaluation.grad_fn is not None,
)
with torch.no_grad():
    print("under no_grad, it does not:", net(test_images).grad_fn is None)
results["eval_no_grad"] = {"same_outputs": same}
# --8<-- [end:eval_no_grad]
