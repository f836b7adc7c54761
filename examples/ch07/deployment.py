# %% [markdown]
# # Deployment: the trained network in a web page, as a notebook
#
# The chapter's convolutional network leaves PyTorch twice. First as an
# ONNX file, which `torch.onnx.export` writes and ONNX Runtime checks against
# PyTorch on every test digit. Then as a small file of int8 weights, with
# batch normalization folded into the convolutions, which the page's own
# JavaScript reads to recognise the digits a reader draws. On the way, the
# program measures why the page uses the CNN rather than the chapter's MLP:
# it reads the test digits better once they are redrawn as a reader would
# draw them. There is no checkpoint of `cnn.py` to load (it saves none), so
# unless `--checkpoint` names one, this program first trains the network
# with `cnn.py`'s recipe: the same seed, 4 epochs, the same 55,000 images.
# Run it as a script with `python -m examples.ch07.deployment`.

# %%
# --8<-- [start:setup]
import argparse
import base64
import collections
import copy
import errno
import hashlib
import json
import math
import os
import sys
import tempfile
import time
import warnings

import numpy as np
import onnx
import onnxruntime
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.transforms.v2.functional as TF

# How each network is trained: epochs, batch size, peak learning rate of the
# one-cycle schedule. The CNN's is cnn.py's, the MLP's train.py's defaults.
CNN_RECIPE = (4, 128, 0.1)
MLP_RECIPE = (3, 256, 0.3)
MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels, scaled to [0, 1]
CANVAS = 280  # the page's drawing area, in pixels
# What the program writes: the ONNX file, the page's weights, and the script
# the page loads (those weights and twenty test digits, two of each).
ONNX_FILE = "deployment_cnn.onnx"
WEIGHTS_FILE = "deployment_cnn_int8.bin"
PAGE_DATA_FILE = "deployment_demo_data.js"
# --8<-- [end:setup]


# %%
# --8<-- [start:network]
class ConvNet(nn.Module):
    """Two convolution + pooling stages, then two fully connected layers."""

    def __init__(self):
        super().__init__()
        # 16 filters of 5 x 5 pixels slide over the 28 x 28 image: 16 maps
        # of 24 x 24 (no padding, so a 5-wide filter fits 24 times).
        # No bias: the batch norm after it subtracts each map's mean, which
        # would cancel any bias, and adds a learned shift of its own.
        self.conv1 = nn.Conv2d(1, 16, kernel_size=5, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        # 32 filters, each 5 x 5 over all 16 maps of the first layer.
        self.conv2 = nn.Conv2d(16, 32, kernel_size=5, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.fc1 = nn.Linear(32 * 4 * 4, 128)
        self.fc2 = nn.Linear(128, 10)

    def features(self, x):
        """The maps after each convolution stage, for the pictures."""
        x1 = F.relu(self.bn1(self.conv1(x)))  # (N, 16, 24, 24)
        x2 = F.relu(self.bn2(self.conv2(F.max_pool2d(x1, 2))))  # (N, 32, 8, 8)
        return x1, x2

    def forward(self, x):
        _, x = self.features(x)
        x = F.max_pool2d(x, 2)  # (N, 32, 4, 4)
        x = x.flatten(1)  # (N, 512): one row of features per image
        x = F.relu(self.fc1(x))
        return self.fc2(x)
        # --8<-- [end:network]


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


# --8<-- [start:validation]
def split_validation(images, labels, seed=0):
    """Hold out one training image in twelve (5,000 of MNIST's 60,000),
    drawn with a fixed seed, as a validation set: every choice (a learning
    rate, an epoch count, when to stop) is made on it, so that the test
    set, read once at the end, measures the network on unseen images."""
    size = round(len(images) / 12)
    train, validation = torch.utils.data.random_split(
        range(len(images)),
        [len(images) - size, size],
        generator=torch.Generator().manual_seed(seed),
    )
    return (
        (images[train.indices], labels[train.indices]),
        (images[validation.indices], labels[validation.indices]),
    )
    # --8<-- [end:validation]


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
# --8<-- [start:evaluate]
@torch.no_grad()
def evaluate(net, images, labels, batch_size=5000):
    """The mean loss and the accuracy (%) on a whole dataset."""
    net.eval()  # dropout off, batch norm on its running statistics (if any)
    logits = torch.cat(
        [
            net(images[i : i + batch_size])
            for i in range(0, len(images), batch_size)
        ]
    )
    loss = F.cross_entropy(logits, labels).item()
    accuracy = (logits.argmax(dim=1) == labels).float().mean().item() * 100
    return loss, accuracy
    # --8<-- [end:evaluate]


# %%
# --8<-- [start:flags]
class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not the whole usage text
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parse_args(argv=None):
    parser = Parser(
        prog="python -m examples.ch07.deployment",
        description="Export the chapter's CNN to ONNX, check it with ONNX "
        "Runtime, and write the int8 weights of the page's demo.",
    )
    parser.add_argument(
        "--checkpoint",
        metavar="FILE.pt",
        help="the ConvNet's state_dict to load (default: train one now)",
    )
    parser.add_argument("--data-dir", default="./data")
    return parser.parse_args(argv)
    # --8<-- [end:flags]


# %%
# --8<-- [start:train]
def train(make_net, images, labels, recipe):
    """A new network trained with a recipe (epochs, batch size, peak
    learning rate): Nesterov SGD with a one-cycle schedule, on the CPU,
    seeded as cnn.py and train.py seed theirs."""
    epochs, batch_size, peak_lr = recipe
    torch.manual_seed(1)  # the initial weights
    shuffler = torch.Generator().manual_seed(1)  # the order of the images
    net = make_net()
    optimizer = torch.optim.SGD(
        net.parameters(), lr=peak_lr, momentum=0.9, nesterov=True
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=peak_lr,
        total_steps=epochs * math.ceil(len(images) / batch_size),
    )
    for epoch in range(1, epochs + 1):
        net.train()  # batch normalization on each batch's statistics
        order = torch.randperm(len(images), generator=shuffler)
        for start in range(0, len(images), batch_size):
            batch = order[start : start + batch_size]
            loss = F.cross_entropy(net(images[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        print(f"epoch {epoch}/{epochs}  last batch's loss {loss.item():.4f}")
    return net


def load_network(path):
    """A ConvNet from a file of its weights (a state_dict), or one line."""
    net = ConvNet()
    try:
        # map_location: saved on a GPU, it loads on a machine without one
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    except Exception as error:
        reason = (str(error).strip().splitlines() or ["?"])[0]
        raise SystemExit(
            f"error: {path} is not a ConvNet's state_dict ({reason})"
        ) from None
    return net
    # --8<-- [end:train]


# %%
# --8<-- [start:prepare]
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
    # --8<-- [end:prepare]


# %%
# --8<-- [start:which_network]
class Net(nn.Module):
    """The chapter's network, unchanged: 784 -> 512 (ReLU) -> 10."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 10)

    def forward(self, x):
        x = x.flatten(1)  # (N, 1, 28, 28) -> (N, 784)
        x = torch.relu(self.fc1(x))
        return self.fc2(x)


def draw_like_a_reader(digit, scale, top, left):
    """A 28 x 28 uint8 digit as a reader might draw it on the page: `scale`
    times larger, smoothed (bilinear), its top-left corner at (top, left) of
    the canvas. Returns the canvas's alpha channel, uint8 (CANVAS, CANVAS)."""
    big = F.interpolate(
        digit[None, None].float(), scale_factor=scale, mode="bilinear"
    )[0, 0]
    canvas = torch.zeros(CANVAS, CANVAS)
    canvas[top : top + big.shape[0], left : left + big.shape[1]] = big
    return canvas.round().clamp(0, 255).to(torch.uint8)


@torch.no_grad()
def drawn_test_set(images, max_degrees, seed=0):
    """Each test image (normalised) redrawn as a reader might draw it, then
    prepared as the page prepares a drawing: rotated by up to max_degrees
    either way, 5 to 9 times larger, anywhere on the canvas."""
    generator = torch.Generator().manual_seed(seed)

    def uniform(low, high):
        return low + (high - low) * torch.rand(1, generator=generator).item()

    prepared = []
    for image in images:
        digit = ((image[0] * STD + MEAN) * 255).round().clamp(0, 255)
        angle = uniform(-max_degrees, max_degrees)
        digit = TF.rotate(digit[None], angle, TF.InterpolationMode.BILINEAR)[0]
        scale = uniform(5, 9)
        room = CANVAS - math.floor(28 * scale)
        top, left = torch.randint(room + 1, (2,), generator=generator).tolist()
        canvas = draw_like_a_reader(digit.to(torch.uint8), scale, top, left)
        prepared.append(prepare(canvas / 255))
    return normalise_prepared(torch.stack(prepared))


def normalise_prepared(pixels):
    """Prepared drawings, (N, 28, 28) in [0, 1], as the networks take them."""
    return pixels.unsqueeze(1).sub(MEAN).div(STD)


@torch.no_grad()
def logits_of(net, images, batch_size=2000):
    """The network's ten logits for each image, in eval mode."""
    net.eval()
    return torch.cat(
        [
            net(images[i : i + batch_size])
            for i in range(0, len(images), batch_size)
        ]
    )


# The ways of drawing the test digits: the largest turn of each, in degrees.
STYLES = {"upright": 0, "rotated": 20}


@torch.no_grad()
def drawn_figures(nets, images, labels):
    """For each way of drawing (STYLES) and each network, the share (%) of
    the redrawn test digits that it reads as it reads the originals, and
    that it reads correctly."""
    # What each network reads in the originals: once, for both styles
    read = {name: logits_of(n, images).argmax(1) for name, n in nets.items()}
    figures = {}
    for style, max_degrees in STYLES.items():
        drawn = drawn_test_set(images, max_degrees)
        figures[style] = {}
        for name, net in nets.items():
            reading = logits_of(net, drawn).argmax(1)
            same, correct = reading == read[name], reading == labels
            figures[style][name] = {
                "same_as_original": same.float().mean().item() * 100,
                "accuracy": correct.float().mean().item() * 100,
            }
    return figures
    # --8<-- [end:which_network]


# %%
# --8<-- [start:export]
def export_onnx(net, path, example):
    """The network as an ONNX graph: the operations that one forward pass
    of `example` ran, with the weights as constants. The batch dimension is
    left free, so the file takes any number of images."""
    net.eval()  # batch norm on its running statistics, as it will be used
    with warnings.catch_warnings():  # dynamo=False is deprecated (below)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            net,
            (example,),
            path,
            dynamo=False,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
        )
    model = onnx.load(path)
    onnx.checker.check_model(model)
    return collections.Counter(node.op_type for node in model.graph.node)
    # --8<-- [end:export]


# %%
# --8<-- [start:check]
def onnx_runtime_logits(path, images, batch_size=2000):
    """The logits that ONNX Runtime computes from the file, on the CPU."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(
        path, options, providers=["CPUExecutionProvider"]
    )
    return torch.from_numpy(
        np.concatenate(
            [
                session.run(
                    None, {"image": images[i : i + batch_size].numpy()}
                )[0]
                for i in range(0, len(images), batch_size)
            ]
        )
    )


def compare(logits, reference):
    """How many images get the same prediction, and the largest difference
    between any two probabilities (softmax of the logits)."""
    same = (logits.argmax(1) == reference.argmax(1)).sum().item()
    difference = (logits.softmax(1) - reference.softmax(1)).abs().max()
    return same, difference.item()
    # --8<-- [end:check]


# %%
# --8<-- [start:eval_mode]
@torch.no_grad()
def train_mode_agreement(net, images):
    """The share (%) of digits, given one at a time, that the network reads
    as it does in eval mode when it is left in training mode. A copy: in
    training mode, every forward pass also moves the running statistics."""
    left_in_training = copy.deepcopy(net).train()
    net.eval()
    same = sum(
        left_in_training(x[None]).argmax().item()
        == net(x[None]).argmax().item()
        for x in images
    )
    return same / len(images) * 100
    # --8<-- [end:eval_mode]


# %%
# --8<-- [start:bytes]
def fold_batch_norm(net):
    """The four layers as (weight, bias) pairs, each batch normalization
    folded into the convolution before it: in eval mode it multiplies each
    map by a constant and adds another, which the filter and a bias can do
    on their own."""
    layers = []
    for conv, norm in ((net.conv1, net.bn1), (net.conv2, net.bn2)):
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        weight = conv.weight * scale[:, None, None, None]
        layers.append((weight, norm.bias - norm.running_mean * scale))
    layers += [(fc.weight, fc.bias) for fc in (net.fc1, net.fc2)]
    return [(w.detach(), b.detach()) for w, b in layers]


def quantise(weight):
    """Each output's weights (a row) as int8, times one float32 scale: the
    row's largest weight becomes 127 or -127."""
    rows = weight.flatten(1)
    scale = rows.abs().amax(dim=1) / 127
    scale[scale == 0] = 1  # a row of zeros stays zeros
    q = (rows / scale[:, None]).round().clamp(-127, 127).to(torch.int8)
    return q, scale


def write_weights(layers, path):
    """The file the page reads, layer after layer (conv1, conv2, fc1, fc2):
    the rows' float32 scales, the int8 weights, the float32 biases, all
    little-endian. Returns the layers as the page will see them."""
    seen, chunks = [], []
    for weight, bias in layers:
        q, scale = quantise(weight)
        chunks += [
            scale.numpy().astype("<f4").tobytes(),
            q.numpy().tobytes(),
            bias.numpy().astype("<f4").tobytes(),
        ]
        seen.append(((q.float() * scale[:, None]).view_as(weight), bias))
    with open(path, "wb") as file:
        file.write(b"".join(chunks))
    return seen


@torch.no_grad()
def forward_folded(layers, x):
    """The forward pass the page's JavaScript computes, in PyTorch."""
    (w1, b1), (w2, b2), (w3, b3), (w4, b4) = layers
    x = F.max_pool2d(F.relu(F.conv2d(x, w1, b1)), 2)  # (N, 16, 12, 12)
    x = F.max_pool2d(F.relu(F.conv2d(x, w2, b2)), 2)  # (N, 32, 4, 4)
    x = F.relu(F.linear(x.flatten(1), w3, b3))
    return F.linear(x, w4, b4)


def test_digits(images, labels):
    """Two test digits of each class, 0 to 9, as 28 x 28 bytes each (0:
    paper, 255: ink), for the page's "test digit" buttons."""
    picked = torch.cat([(labels == d).nonzero()[:2, 0] for d in range(10)])
    pixels = ((images[picked] * STD + MEAN) * 255).round().clamp(0, 255)
    return pixels.to(torch.uint8).numpy().tobytes()


def write_page_data(path, weights, digits):
    """The weights file and the test digits as one script, in base64. A page
    opened from the disk (file://) may load a script but not fetch a file:
    as a script, the demo runs from the offline book too."""
    data = {
        name: base64.b64encode(content).decode("ascii")
        for name, content in (("weights", weights), ("digits", digits))
    }
    with open(path, "w", encoding="ascii") as file:
        file.write(
            "// Written by examples/ch07/deployment.py: the demo's weights"
            " and test digits.\n"
            f"window.DigitDemoData = {json.dumps(data)};\n"
        )


def sha256(path):
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()
    # --8<-- [end:bytes]


# %%
# --8<-- [start:main]
def main(argv=None):
    args = parse_args(argv)
    check_writable(ONNX_FILE, WEIGHTS_FILE, PAGE_DATA_FILE)
    cnn = load_network(args.checkpoint) if args.checkpoint else None
    (train_x, train_y), (test_x, test_y) = load_mnist(args.data_dir)
    (train_x, train_y), _ = split_validation(train_x, train_y)
    start = time.perf_counter()
    if cnn is None:
        print("no checkpoint: training the CNN with cnn.py's recipe")
        cnn = train(ConvNet, train_x, train_y, CNN_RECIPE)
    train_seconds = time.perf_counter() - start
    cnn.eval()  # from here on, the network as it will be used
    _, test_accuracy = evaluate(cnn, test_x, test_y)
    print(f"CNN: test accuracy {test_accuracy:.2f} %")

    # Which network reads drawings better: the CNN or the chapter's MLP?
    print("the MLP, for comparison, with train.py's recipe")
    mlp = train(Net, train_x, train_y, MLP_RECIPE)
    nets = {"cnn": cnn, "mlp": mlp}
    drawn = drawn_figures(nets, test_x, test_y)
    for style, figures in drawn.items():
        print(
            f"drawn, {style}: read as the original by the CNN "
            f"{figures['cnn']['same_as_original']:.1f} %, by the MLP "
            f"{figures['mlp']['same_as_original']:.1f} %"
        )
    pixels = test_x[:, 0] * STD + MEAN
    centres = torch.tensor([centre_of_mass(image) for image in pixels])

    operators = export_onnx(cnn, ONNX_FILE, test_x[:1])
    reference = logits_of(cnn, test_x)
    onnx_logits = onnx_runtime_logits(ONNX_FILE, test_x)
    onnx_same, onnx_difference = compare(onnx_logits, reference)
    print(
        f"ONNX Runtime: {onnx_same:,} of {len(test_x):,} predictions as "
        f"PyTorch's, probabilities within {onnx_difference:.1e}"
    )
    agreement = train_mode_agreement(cnn, test_x[:1000])
    print(f"left in training mode: {agreement:.1f} % read as in eval mode")

    seen = write_weights(fold_batch_norm(cnn), WEIGHTS_FILE)
    page_logits = forward_folded(seen, test_x)
    int8_same, int8_difference = compare(page_logits, reference)
    int8_accuracy = (page_logits.argmax(1) == test_y).float().mean() * 100
    digits = test_digits(test_x, test_y)
    with open(WEIGHTS_FILE, "rb") as file:
        write_page_data(PAGE_DATA_FILE, file.read(), digits)
    print(
        f"int8 weights, {os.path.getsize(WEIGHTS_FILE):,} bytes: "
        f"{int8_same:,} predictions as PyTorch's, probabilities within "
        f"{int8_difference:.3f}, test accuracy {int8_accuracy:.2f} %"
    )
    return {
        "trained_here": args.checkpoint is None,
        "train_seconds": train_seconds,
        "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in cnn.parameters()),
        "mlp_parameters": sum(p.numel() for p in mlp.parameters()),
        "test_images": len(test_x),
        "test_accuracy": test_accuracy,
        "mlp_test_accuracy": evaluate(mlp, test_x, test_y)[1],
        "drawn": drawn,
        "centre_of_mass": {
            "mean": centres.mean(0).tolist(),  # rows, columns
            "std": centres.std(0).tolist(),
        },
        "onnx_bytes": os.path.getsize(ONNX_FILE),
        "onnx_operators": dict(sorted(operators.items())),
        "onnx_same_predictions": onnx_same,
        "onnx_max_prob_difference": onnx_difference,
        "onnx_max_logit_difference": (onnx_logits - reference)
        .abs()
        .max()
        .item(),
        "train_mode_digits": 1000,
        "train_mode_agreement": agreement,
        "weights_bytes": os.path.getsize(WEIGHTS_FILE),
        "weights_sha256": sha256(WEIGHTS_FILE),  # which file: this run's
        "int8_same_predictions": int8_same,
        "int8_max_prob_difference": int8_difference,
        "int8_test_accuracy": int8_accuracy.item(),
        "page_data_bytes": os.path.getsize(PAGE_DATA_FILE),
        "versions": {
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
    }


if __name__ == "__main__":
    # In a notebook, sys.argv holds the kernel's own arguments: use defaults.
    results = main([] if "ipykernel" in sys.modules else None)
# --8<-- [end:main]
