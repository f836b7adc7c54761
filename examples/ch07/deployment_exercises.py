# %% [markdown]
# # Deployment's exercises, solved
#
# The worked solutions to the exercises at the end of the book's page
# "Deployment: the network in a web page", one cell each, after the cells
# they share. Run it cell by cell here, or as a script with
# `python -m examples.ch07.deployment_exercises`. To keep it short, the
# network trains for one epoch only, with the page's recipe.

# %%
# --8<-- [start:setup]
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels, scaled to [0, 1]
DATA_DIR = "./data"
results = {}  # what each solution measured: the page quotes it


def make_net(padding=0, batch_norm=True):
    """The page's ConvNet as a nn.Sequential, layer by layer in the order
    its forward() applies them, with a choice of padding for both
    convolutions and of batch normalization (without it, the convolutions
    get their biases back)."""
    size = ((28 + 2 * padding - 4) // 2 + 2 * padding - 4) // 2  # of a map

    def norm(channels):
        return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()

    return nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=padding, bias=not batch_norm),
        norm(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5, padding=padding, bias=not batch_norm),
        norm(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * size * size, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def fit(net, images, labels, peak_lr=0.1, share=0.25, batch_size=128):
    """The page's recipe (SGD with Nesterov momentum, a one-cycle schedule,
    batches of 128), for one pass over a random share of the images."""
    order = torch.randperm(len(images))[: int(share * len(images))]
    batches = order.split(batch_size)
    optimizer = torch.optim.SGD(
        net.parameters(), lr=peak_lr, momentum=0.9, nesterov=True
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=peak_lr, total_steps=len(batches)
    )
    net.train()
    for batch in batches:
        loss = F.cross_entropy(net(images[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()


@torch.no_grad()
def predict(net, images, batch_size=250):
    """The digit the network reads in each image."""
    net.eval()
    return torch.cat(
        [net(batch).argmax(dim=1) for batch in images.split(batch_size)]
    )


def accuracy(net, images, labels):
    """The percentage of the images the network reads correctly."""
    return 100 * (predict(net, images) == labels).float().mean().item()


def fold(net):
    """make_net()'s layers as (weight, bias) pairs, batch norm folded into
    the convolutions, as the page's write_weights receives them."""
    layers = []
    for conv, norm in ((net[0], net[1]), (net[4], net[5])):
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        weight = conv.weight * scale[:, None, None, None]
        layers.append((weight, norm.bias - norm.running_mean * scale))
    layers += [(fc.weight, fc.bias) for fc in (net[9], net[11])]
    return [(w.detach(), b.detach()) for w, b in layers]


@torch.no_grad()
def forward_folded(layers, x):
    """The forward pass the page's JavaScript computes, in PyTorch."""
    (w1, b1), (w2, b2), (w3, b3), (w4, b4) = layers
    x = F.max_pool2d(F.relu(F.conv2d(x, w1, b1)), 2)
    x = F.max_pool2d(F.relu(F.conv2d(x, w2, b2)), 2)
    x = F.relu(F.linear(x.flatten(1), w3, b3))
    return F.linear(x, w4, b4)
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
results["train_images"] = len(train_images)
results["test_images"] = len(test_images)

torch.manual_seed(0)
net = make_net()
fit(net, train_images, train_labels, share=1.0)  # one epoch
net.eval()
float_probs = forward_folded(fold(net), test_images).softmax(1)
results["test_accuracy"] = accuracy(net, test_images, test_labels)
print(f"one epoch: test accuracy {results['test_accuracy']:.2f} %")
# --8<-- [end:load]

# %% [markdown]
# ## 1. The bytes, predicted

# %%
# --8<-- [start:bytes]
layers = fold(net)
numbers = sum(w.numel() + b.numel() for w, b in layers)
sizes = {
    "float32": 4 * numbers,
    "float16": 2 * numbers,
    "int8": sum(w.numel() + 4 * w.shape[0] + 4 * b.numel() for w, b in layers),
}
for name, size in sizes.items():
    print(f"{name:>7}: {size:,} bytes")
results["bytes"] = {"numbers": numbers, **sizes}
# --8<-- [end:bytes]

# %% [markdown]
# ## 2. One scale per tensor


# %%
# --8<-- [start:per_tensor]
def quantised(layers, per_row):
    """The weights rounded to int8 steps, one scale per row or per tensor;
    the biases as they are."""
    out = []
    for weight, bias in layers:
        rows = weight.flatten(1)
        if per_row:
            scale = rows.abs().amax(dim=1, keepdim=True) / 127
        else:
            scale = rows.abs().max() / 127
        out.append((((rows / scale).round() * scale).view_as(weight), bias))
    return out


for per_row in (True, False):
    probs = forward_folded(quantised(layers, per_row), test_images).softmax(1)
    same = (probs.argmax(1) == float_probs.argmax(1)).sum().item()
    worst = (probs - float_probs).abs().max().item()
    name = "per_row" if per_row else "per_tensor"
    print(
        f"{name:>10}: {same:,} of {len(probs):,} as the float network, "
        f"probabilities within {worst:.3f}"
    )
    results[name] = {"same": same, "max_prob_difference": worst}
# --8<-- [end:per_tensor]

# %% [markdown]
# ## 3. A stray dot


# %%
# --8<-- [start:speck]
def area_matrix(n, m):
    """(m, n): new pixel i averages the old ones over [i n/m, (i + 1) n/m),
    each in proportion to the part of it that the interval covers."""
    edges = torch.arange(m + 1, dtype=torch.float64) * n / m
    j = torch.arange(n, dtype=torch.float64)
    overlap = torch.minimum(edges[1:, None], j + 1) - torch.maximum(
        edges[:-1, None], j
    )
    return overlap.clamp(min=0) / (n / m)


def prepare(ink):
    """A drawing (ink: (H, W) in [0, 1]) as MNIST prepared its digits, as
    the page's script does it: the bounding box of the ink scaled, keeping
    its proportions, to 20 pixels on its longer side by area averaging,
    then placed in 28 x 28 with its centre of mass on pixel (14, 14)."""
    rows, cols = ink.nonzero(as_tuple=True)
    box = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    h, w = box.shape
    nh = max(1, math.floor(h * 20 / max(h, w) + 0.5))
    nw = max(1, math.floor(w * 20 / max(h, w) + 0.5))
    small = area_matrix(h, nh) @ box.double() @ area_matrix(w, nw).T
    dy, dx = [math.floor(14 - c + 0.5) for c in centre_of_mass(small)]
    out = torch.zeros(28 + 2 * 28, 28 + 2 * 28, dtype=torch.float64)
    out[28 + dy : 28 + dy + nh, 28 + dx : 28 + dx + nw] = small.clamp(max=1)
    return out[28:56, 28:56].float()  # what falls outside 28 x 28 is cut


def centre_of_mass(image):
    """The ink's average (row, column), in pixels."""
    mass = image.sum()
    rows = image.sum(1) @ torch.arange(image.shape[0]).to(image) / mass
    cols = image.sum(0) @ torch.arange(image.shape[1]).to(image) / mass
    return rows.item(), cols.item()


def drawn(image, speck):
    """A test digit as a drawing: 8 times larger on a 280 x 280 canvas,
    with a 6-pixel dot of ink near the top-left corner if speck."""
    canvas = torch.zeros(280, 280)
    pixels = (image[0] * STD + MEAN).clamp(0, 1)
    canvas[28:252, 28:252] = pixels.repeat_interleave(8, 0).repeat_interleave(
        8, 1
    )
    if speck:
        canvas[10:16, 10:16] = 1.0
    return (prepare(canvas)[None] - MEAN) / STD


digits = test_images[:1000]
clean = torch.stack([drawn(x, False) for x in digits])
specked = torch.stack([drawn(x, True) for x in digits])
reads = forward_folded(fold(net), clean).argmax(1)
reads_specked = forward_folded(fold(net), specked).argmax(1)
same = (reads == reads_specked).float().mean().item() * 100
labels = test_labels[:1000]
results["speck"] = {
    "clean_accuracy": (reads == labels).float().mean().item() * 100,
    "specked_accuracy": (reads_specked == labels).float().mean().item() * 100,
    "same": same,
}
print(
    f"drawn digits read correctly: {results['speck']['clean_accuracy']:.1f} %"
    f"; with a dot in the corner: {results['speck']['specked_accuracy']:.1f}"
    f" %, {same:.1f} % read as without it"
)
# --8<-- [end:speck]
