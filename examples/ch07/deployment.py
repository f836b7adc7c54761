# %% [markdown]
# # Deployment: the trained network in a web page, as a notebook
#
# The chapter's convolutional network leaves PyTorch twice. First as an
# ONNX file, which `torch.onnx.export` writes and ONNX Runtime checks against
# PyTorch on the 10,000 test digits. Then as 81,504 bytes of int8 weights,
# with batch normalization folded into the convolutions, which the page's
# own JavaScript reads to recognise the digits a reader draws. There is no
# checkpoint of `cnn.py` to load (it saves none), so unless `--checkpoint`
# names one, this program first trains the network with `cnn.py`'s recipe:
# the same seed, 4 epochs, the same 55,000 images.
# Run it as a script with `python -m examples.ch07.deployment`.

# %%
# --8<-- [start:setup]
import argparse
import collections
import copy
import errno
import hashlib
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

EPOCHS = 4  # cnn.py's recipe, if there is no checkpoint to load
BATCH_SIZE = 128
PEAK_LR = 0.1  # of the one-cycle schedule
MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels, scaled to [0, 1]
# What the program writes: the ONNX file, the page's weights and the test
# digits the page offers (two of each, 0 to 9).
ONNX_FILE = "deployment_cnn.onnx"
WEIGHTS_FILE = "deployment_cnn_int8.bin"
DIGITS_FILE = "deployment_digits.bin"
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
def train_cnn(images, labels):
    """cnn.py's recipe, on the CPU: Nesterov SGD with a one-cycle schedule,
    4 epochs of 128-image batches, seeded as cnn.py seeds them."""
    torch.manual_seed(1)  # the initial weights
    shuffler = torch.Generator().manual_seed(1)  # the order of the images
    net = ConvNet()
    optimizer = torch.optim.SGD(
        net.parameters(), lr=PEAK_LR, momentum=0.9, nesterov=True
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=PEAK_LR,
        total_steps=EPOCHS * math.ceil(len(images) / BATCH_SIZE),
    )
    for epoch in range(1, EPOCHS + 1):
        net.train()  # batch normalization on each batch's statistics
        order = torch.randperm(len(images), generator=shuffler)
        for start in range(0, len(images), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            loss = F.cross_entropy(net(images[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        print(f"epoch {epoch}/{EPOCHS}  last batch's loss {loss.item():.4f}")
    return net


def load_network(path):
    """A ConvNet from a file of its weights (a state_dict), or one line."""
    net = ConvNet()
    try:
        net.load_state_dict(torch.load(path, weights_only=True))
    except Exception as error:
        reason = (str(error).strip().splitlines() or ["?"])[0]
        raise SystemExit(
            f"error: {path} is not a ConvNet's state_dict ({reason})"
        ) from None
    return net
    # --8<-- [end:train]


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
@torch.no_grad()
def logits_of(net, images, batch_size=2000):
    net.eval()
    return torch.cat(
        [
            net(images[i : i + batch_size])
            for i in range(0, len(images), batch_size)
        ]
    )


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


def write_digits(images, labels, path):
    """Two test digits of each class, 0 to 9, as 28 x 28 bytes each (0:
    paper, 255: ink), for the page's "test digit" button."""
    picked = torch.cat([(labels == d).nonzero()[:2, 0] for d in range(10)])
    pixels = ((images[picked] * STD + MEAN) * 255).round().clamp(0, 255)
    with open(path, "wb") as file:
        file.write(pixels.to(torch.uint8).numpy().tobytes())


def sha256(path):
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()
    # --8<-- [end:bytes]


# %%
# --8<-- [start:main]
def main(argv=None):
    args = parse_args(argv)
    check_writable(ONNX_FILE, WEIGHTS_FILE, DIGITS_FILE)
    net = load_network(args.checkpoint) if args.checkpoint else None
    (train_x, train_y), (test_x, test_y) = load_mnist(args.data_dir)
    start = time.perf_counter()
    if net is None:
        print("no checkpoint: training the network with cnn.py's recipe")
        (train_x, train_y), _ = split_validation(train_x, train_y)
        net = train_cnn(train_x, train_y)
    train_seconds = time.perf_counter() - start
    net.eval()  # from here on, the network as it will be used
    _, test_accuracy = evaluate(net, test_x, test_y)
    print(f"PyTorch: test accuracy {test_accuracy:.2f} %")

    operators = export_onnx(net, ONNX_FILE, test_x[:1])
    reference = logits_of(net, test_x)
    onnx_logits = onnx_runtime_logits(ONNX_FILE, test_x)
    onnx_same, onnx_difference = compare(onnx_logits, reference)
    print(
        f"ONNX Runtime: {onnx_same:,} of {len(test_x):,} predictions as "
        f"PyTorch's, probabilities within {onnx_difference:.1e}"
    )
    agreement = train_mode_agreement(net, test_x[:1000])
    print(f"left in training mode: {agreement:.1f} % read as in eval mode")

    seen = write_weights(fold_batch_norm(net), WEIGHTS_FILE)
    page_logits = forward_folded(seen, test_x)
    int8_same, int8_difference = compare(page_logits, reference)
    int8_accuracy = (page_logits.argmax(1) == test_y).float().mean() * 100
    write_digits(test_x, test_y, DIGITS_FILE)
    print(
        f"int8 weights, {os.path.getsize(WEIGHTS_FILE):,} bytes: "
        f"{int8_same:,} predictions as PyTorch's, probabilities within "
        f"{int8_difference:.3f}, test accuracy {int8_accuracy:.2f} %"
    )
    return {
        "trained_here": args.checkpoint is None,
        "train_seconds": train_seconds,
        "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in net.parameters()),
        "test_images": len(test_x),
        "test_accuracy": test_accuracy,
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
        "digits_bytes": os.path.getsize(DIGITS_FILE),
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
