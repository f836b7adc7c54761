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
import math
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
# --8<-- [start:load]
def read_mnist(data_dir):
    """Both MNIST splits as (images, labels), the images normalised as in the
    chapter, (N, 1, 28, 28). MNIST is downloaded into data_dir if missing; if
    it cannot be loaded, one line says why, not a traceback."""
    try:
        splits = [
            torchvision.datasets.MNIST(data_dir, train=train, download=True)
            for train in (True, False)
        ]
    except Exception as error:  # missing and offline, or a damaged file
        reason = (str(error).strip().splitlines() or [repr(error)])[-1]
        raise SystemExit(
            f"error: MNIST could not be loaded from {data_dir} ({reason}); "
            f"the page's program downloads it, or names the damaged file"
        ) from None
    return [
        ((split.data.unsqueeze(1).float() / 255 - MEAN) / STD, split.targets)
        for split in splits
    ]


(train_images, train_labels), (test_images, test_labels) = read_mnist(DATA_DIR)
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
