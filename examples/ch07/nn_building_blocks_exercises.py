# %% [markdown]
# # torch.nn's building blocks: the exercises, solved
#
# The worked solutions to the exercises at the end of the book's page
# "torch.nn's building blocks", one cell each, after the cells they share.
# Run it cell by cell here, or as a script with
# `python -m examples.ch07.nn_building_blocks_exercises`.

# %%
# --8<-- [start:setup]

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels, scaled to [0, 1]
DATA_DIR = "./data"
DEPTH, WIDTH = 10, 128  # the page's deep network
results = {}  # what each solution measured: the page quotes it


class TwoLayers(nn.Module):
    """The page's Net, 784 -> 512 (ReLU) -> 10, under a name of its own."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def sequential_net():
    """The same network as a pipeline: each module's output is the next
    one's input. No class, no forward() to write."""
    return nn.Sequential(
        nn.Flatten(),  # (B, 1, 28, 28) -> (B, 784)
        nn.Linear(784, 512),
        nn.ReLU(),  # activations are modules too
        nn.Linear(512, 10),
    )


def deep_net(activation, glorot=True):
    """The page's deep_mlp: DEPTH Linear layers, the activation after each
    but the last. With glorot=False, PyTorch's default initial weights."""
    torch.manual_seed(0)
    sizes = [784] + [WIDTH] * (DEPTH - 1) + [10]
    layers = [nn.Flatten()]
    for i in range(DEPTH):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        if glorot:
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


def fit(net, images, labels, lr=0.1, batch_size=64):
    """One epoch of plain SGD, in the page's order of the images."""
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    order = torch.randperm(
        len(images), generator=torch.Generator().manual_seed(0)
    )
    for batch in order.split(batch_size):
        optimizer.zero_grad()
        F.cross_entropy(net(images[batch]), labels[batch]).backward()
        optimizer.step()


@torch.no_grad()
def accuracy(net, images):
    """The percentage of test digits (given as images) read correctly."""
    predicted = net(images).argmax(dim=1)
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
images, labels = train_images[:256], train_labels[:256]  # the page's batch
# --8<-- [end:load]

# %% [markdown]
# ## 1. Predict the shapes and the counts

# %%
# --8<-- [start:shapes]
torch.manual_seed(0)
chain = nn.Sequential(
    nn.Conv2d(1, 16, kernel_size=5, padding=2),
    nn.MaxPool2d(2),
    nn.Conv2d(16, 32, kernel_size=3, stride=2),
    nn.Flatten(),
    nn.Linear(32 * 6 * 6, 10),
)
results["shapes"] = {"chain": [], "lstm": {}}
x = images
with torch.no_grad():
    for layer in chain:
        x = layer(x)
        count = sum(p.numel() for p in layer.parameters())
        print(
            f"{type(layer).__name__:10} {str(tuple(x.shape)):18} {count:>7,}"
        )
        results["shapes"]["chain"].append(
            {"shape": list(x.shape), "parameters": count}
        )

lstm = nn.LSTM(input_size=28, hidden_size=128, num_layers=2, batch_first=True)
with torch.no_grad():
    output, (h_n, c_n) = lstm(images.squeeze(1))  # 28 rows of 28 pixels
count = sum(p.numel() for p in lstm.parameters())
print(f"{lstm}: {count:,} parameters")
print(f"output {tuple(output.shape)}, h_n {tuple(h_n.shape)}")
results["shapes"]["lstm"] = {
    "output": list(output.shape),
    "h_n": list(h_n.shape),
    "parameters": count,
}
# --8<-- [end:shapes]

# %% [markdown]
# ## 2. A state_dict between a class and a Sequential

# %%
# --8<-- [start:state_dict]
torch.manual_seed(0)
net = TwoLayers()
state = net.state_dict()
chain = sequential_net()
try:
    chain.load_state_dict(state)
except RuntimeError as error:
    print(error)

# strict=False loads the keys that match, and here none does
report = chain.load_state_dict(state, strict=False)
with torch.no_grad():
    same = torch.equal(chain(images), net(images))
print(f"strict=False: {len(report.missing_keys)} keys missing; same: {same}")
results["state_dict"] = {"not_strict_same": same}

# The same numbers under the Sequential's names: fc1 is its module 1,
# fc2 its module 3 (0 is the Flatten, 2 the ReLU)
renamed = {
    key.replace("fc1.", "1.").replace("fc2.", "3."): value
    for key, value in state.items()
}
chain.load_state_dict(renamed)
with torch.no_grad():
    same = torch.equal(chain(images), net(images))
print(f"renamed {list(renamed)}: same outputs: {same}")
results["state_dict"]["renamed_same"] = same
# --8<-- [end:state_dict]

# %% [markdown]
# ## 3. Predict, then run: without Glorot's initialisation

# %%
# --8<-- [start:init]
results["init"] = {}
for name, activation in (("ReLU", nn.ReLU), ("Tanh", nn.Tanh)):
    for glorot in (True, False):
        net = deep_net(activation, glorot)
        norms = gradient_norms(net, images, labels)
        # What reaches the last layer: its size, and how much it differs
        # from one image to the next (its spread over the batch)
        with torch.no_grad():
            into_last = net[:-1](images)
        size = into_last.pow(2).mean().sqrt().item()
        spread = into_last.std(dim=0).mean().item()
        key = f"{name}_{'glorot' if glorot else 'default'}"
        results["init"][key] = {
            "norms": norms,
            "first_to_last": norms[0] / norms[-1],
            "spread": spread,
            "size": size,
        }
        if not glorot:  # the page trained the Glorot networks
            fit(net, train_images, train_labels)
            results["init"][key]["accuracy"] = accuracy(net, test_images)
            with torch.no_grad():
                answers = net(test_images).argmax(dim=1).unique()
            results["init"][key]["answers"] = len(answers)
        print(
            f"{name} {'Glorot ' if glorot else 'default'}: gradient norm "
            f"layer 1 {norms[0]:.2e}, layer {DEPTH} {norms[-1]:.2e}; "
            f"into layer {DEPTH}: size {size:.1e}, spread {spread:.1e}"
            + ("" if glorot else f"; {accuracy(net, test_images):.2f} %")
        )
results["init"]["spread_ratio"] = {
    name: results["init"][f"{name}_glorot"]["spread"]
    / results["init"][f"{name}_default"]["spread"]
    for name in ("ReLU", "Tanh")
}
# --8<-- [end:init]

# %% [markdown]
# ## 4. Why does a convolution need the picture?

# %%
# --8<-- [start:shuffled]
pixels = torch.randperm(784, generator=torch.Generator().manual_seed(0))


def shuffle(images):
    """The same reordering of the 784 pixels in every image."""
    return images.flatten(1)[:, pixels].view_as(images)


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=5, padding=2),  # (B, 8, 28, 28)
        nn.ReLU(),
        nn.MaxPool2d(4),  # (B, 8, 7, 7)
        nn.Flatten(),
        nn.Linear(8 * 7 * 7, 10),
    )


def small_mlp():
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10)
    )


results["shuffled"] = {}
for name, make in (("MLP", small_mlp), ("CNN", small_cnn)):
    torch.manual_seed(0)
    start = make().state_dict()
    row = {"parameters": sum(v.numel() for v in start.values())}
    for shuffled in (False, True):
        net = make()
        net.load_state_dict(start)
        if shuffled and name == "MLP":
            # The first layer's columns reordered like the pixels: the
            # same network, reading the shuffled images.
            with torch.no_grad():
                before = net(test_images)
                net[1].weight.copy_(net[1].weight[:, pixels])
                after = net(shuffle(test_images))
            row["start_difference"] = (after - before).abs().max().item()
        prepare = shuffle if shuffled else (lambda images: images)
        fit(net, prepare(train_images), train_labels)
        key = "shuffled" if shuffled else "original"
        row[key] = accuracy(net, prepare(test_images))
    results["shuffled"][name] = row
    if name == "MLP":
        print(f"MLP, shuffled: at the start {row['start_difference']:.0e}")
    print(
        f"{name} ({row['parameters']:,} parameters): test accuracy "
        f"{row['original']:.2f} % on the digits, "
        f"{row['shuffled']:.2f} % on their shuffled pixels"
    )
# --8<-- [end:shuffled]
