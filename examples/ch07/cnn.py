# %% [markdown]
# # A convolutional network, as a notebook
#
# A small convolutional network (two convolution layers, each followed by
# max-pooling, then two fully connected layers) learns MNIST in 4 epochs,
# with the fast training loop of "Training faster and safer". At the end it
# shows the 16 filters of its first layer and what they make of one digit.
# It holds out 5,000 training images as a validation set, reports them after
# every epoch, and reads the test set once, at the end.
# Run it as a script with `python -m examples.ch07.cnn`.

# %%
# --8<-- [start:setup]
import errno
import math
import os
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

EPOCHS = 4
BATCH_SIZE = 128
PEAK_LR = 0.1  # of the one-cycle schedule
MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels, scaled to [0, 1]


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
        # --8<-- [end:setup]


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
# --8<-- [start:train]
def train_epoch(net, images, labels, optimizer, scheduler, generator):
    """One pass over the training set in a new random order; the mean loss."""
    net.train()  # batch normalization uses the statistics of each batch
    order = torch.randperm(len(images), generator=generator).to(images.device)
    # The sum of the losses stays a tensor on the device: reading it with
    # .item() at every step would make the CPU wait for the GPU each time.
    total_loss = torch.zeros((), device=images.device)
    for start in range(0, len(images), BATCH_SIZE):
        batch = order[start : start + BATCH_SIZE]
        loss = F.cross_entropy(net(images[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.detach() * len(batch)
    return total_loss.item() / len(images)  # read once per epoch


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


def count_parameters(net):
    return sum(p.numel() for p in net.parameters())
    # --8<-- [end:train]


# %%
# --8<-- [start:main]
def main():
    check_writable(
        "cnn_filters.png", "cnn_feature_maps.png"
    )  # saved at the end
    # The accelerator (a GPU) if there is one, else the CPU: the same code
    # runs on both, as the data and the network are moved to `device`.
    device = (
        torch.accelerator.current_accelerator()
        if torch.accelerator.is_available()
        else torch.device("cpu")
    )
    torch.manual_seed(1)  # the initial weights
    shuffler = torch.Generator().manual_seed(1)  # the order of the images
    (train_x, train_y), (test_x, test_y) = load_mnist(device=device)
    (train_x, train_y), (valid_x, valid_y) = split_validation(train_x, train_y)
    net = ConvNet().to(device)
    optimizer = torch.optim.SGD(
        net.parameters(), lr=PEAK_LR, momentum=0.9, nesterov=True
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=PEAK_LR,
        total_steps=EPOCHS * math.ceil(len(train_x) / BATCH_SIZE),
    )
    print(
        f"{count_parameters(net):,} parameters, on {device.type}, "
        f"{torch.get_num_threads()} threads"
    )

    history, train_seconds = [], 0.0
    for epoch in range(1, EPOCHS + 1):
        start = time.perf_counter()  # time the training, not the validation
        train_loss = train_epoch(
            net, train_x, train_y, optimizer, scheduler, shuffler
        )
        train_seconds += time.perf_counter() - start
        valid_loss, valid_accuracy = evaluate(net, valid_x, valid_y)
        history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "validation_loss": valid_loss,
                "validation_accuracy": valid_accuracy,
                "train_seconds": train_seconds,
            }
        )
        print(
            f"epoch {epoch}/{EPOCHS}  train loss {train_loss:.4f}  "
            f"validation loss {valid_loss:.4f}  "
            f"validation accuracy {valid_accuracy:.2f} %  "
            f"({train_seconds:.1f} s of training so far)"
        )
    # The test set, once, now that nothing more will be chosen.
    test_loss, test_accuracy = evaluate(net, test_x, test_y)
    print(f"test loss {test_loss:.4f}  test accuracy {test_accuracy:.2f} %")
    results = {
        "device": device.type,
        "train_images": len(train_x),
        "validation_images": len(valid_x),
        "test_images": len(test_x),
        "threads": torch.get_num_threads(),
        "parameters": count_parameters(net),
        "history": history,
        "validation_accuracy": history[-1]["validation_accuracy"],
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
        "train_seconds": train_seconds,
    }
    return net, (valid_x, valid_y), results


if __name__ == "__main__":
    net, (valid_x, valid_y), results = main()
# --8<-- [end:main]


# %% [markdown]
# ## What the network learned, in pictures
#
# The 16 filters of the first convolution layer, and the maps that the two
# convolution stages make of the first validation digit (the test set is
# not looked at again).

# %%
# --8<-- [start:plots]
import matplotlib.pyplot as plt


def plot_filters(net, filename="cnn_filters.png"):
    """The 16 learned 5 x 5 filters of the first layer; red weights add,
    blue weights subtract where they lie over ink."""
    weights = net.conv1.weight.detach().cpu().squeeze(1)  # (16, 5, 5)
    fig, axes = plt.subplots(2, 8, figsize=(8, 2.8))
    for i, ax in enumerate(axes.flat):
        limit = weights[i].abs().max().item()
        ax.imshow(weights[i], cmap="bwr", vmin=-limit, vmax=limit)
        ax.set_title(f"filter {i}", fontsize=8)
        ax.axis("off")
    fig.suptitle("First-layer filters (red: positive, blue: negative)")
    fig.tight_layout()
    fig.savefig(filename, dpi=100)
    return fig


@torch.no_grad()
def plot_feature_maps(net, image, filename="cnn_feature_maps.png"):
    """One digit, the 16 maps of the first stage and 16 of the 32 maps of
    the second stage (darker: stronger response)."""
    net.eval()
    maps1, maps2 = (m.cpu() for m in net.features(image.unsqueeze(0)))
    image = image.cpu()  # matplotlib draws from the CPU's memory
    fig, axes = plt.subplots(4, 9, figsize=(9, 5.4))
    for ax in axes.flat:
        ax.axis("off")
    axes[0, 0].imshow(image.squeeze(), cmap="gray_r")
    axes[0, 0].set_title("input", fontsize=8)
    for i in range(16):
        ax = axes[i // 8, 1 + i % 8]
        ax.imshow(maps1[0, i], cmap="gray_r")
        ax.set_title(f"conv1 #{i}", fontsize=8)
        ax = axes[2 + i // 8, 1 + i % 8]
        ax.imshow(maps2[0, i], cmap="gray_r")
        ax.set_title(f"conv2 #{i}", fontsize=8)
    fig.suptitle("Feature maps of one digit: conv1 (24 x 24), conv2 (8 x 8)")
    fig.tight_layout()
    fig.savefig(filename, dpi=100)
    return fig


if __name__ == "__main__":
    plot_filters(net)
    plot_feature_maps(net, valid_x[0])
    print("Saved cnn_filters.png and cnn_feature_maps.png")
# --8<-- [end:plots]
