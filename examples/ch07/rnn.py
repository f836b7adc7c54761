# %% [markdown]
# # A recurrent network, as a notebook
#
# An LSTM reads each MNIST digit as a sequence: 28 steps, one row of 28
# pixels per step, carrying a hidden state from row to row. After the last
# row, a linear layer turns the hidden state into ten scores. At the end we
# watch its answer form as it reads one digit, row by row.
# It holds out 5,000 training images as a validation set, reports them after
# every epoch, and reads the test set once, at the end.
# Run it as a script with `python -m examples.ch07.rnn`.

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

EPOCHS = 3
BATCH_SIZE = 128
PEAK_LR = 0.01  # of the one-cycle schedule, for Adam
HIDDEN_SIZE = 128
MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels, scaled to [0, 1]


class RowReader(nn.Module):
    """An LSTM that reads an image one row per step, then a linear layer."""

    def __init__(self):
        super().__init__()
        # input_size: one row of 28 pixels per step. batch_first: tensors
        # are (batch, step, feature), the way the images already are.
        self.lstm = nn.LSTM(
            input_size=28, hidden_size=HIDDEN_SIZE, batch_first=True
        )
        self.fc = nn.Linear(HIDDEN_SIZE, 10)

    def forward(self, images, every_step=False):
        # images: (N, 28, 28), that is, N sequences of 28 steps (the rows)
        # of 28 numbers (the pixels of a row), as batch_first expects.
        outputs, _ = self.lstm(images)  # the hidden state after every step
        if every_step:  # the answer it would give after each row
            return self.fc(outputs)  # (N, 28, 10)
        return self.fc(outputs[:, -1])  # after the last row: (N, 10)
        # --8<-- [end:setup]


# %%
# --8<-- [start:data]
# --8<-- [start:normalise]
def normalise(images):
    """uint8 images (N, 28, 28) -> float32 (N, 28, 28), scaled and centred
    as ToTensor() followed by Normalize((MEAN,), (STD,)) would."""
    return images.float().div(255).sub(MEAN).div(STD)
    # --8<-- [end:normalise]


# --8<-- [start:loading]
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
    # --8<-- [end:loading]
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
    net.train()
    order = torch.randperm(len(images), generator=generator).to(images.device)
    # The sum of the losses stays a tensor on the device: reading it with
    # .item() at every step would make the CPU wait for the GPU each time.
    total_loss = torch.zeros((), device=images.device)
    for start in range(0, len(images), BATCH_SIZE):
        batch = order[start : start + BATCH_SIZE]
        loss = F.cross_entropy(net(images[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        # Gradients flow back through all 28 steps and can spike; cap
        # their overall size so that one bad batch cannot wreck the weights.
        nn.utils.clip_grad_norm_(net.parameters(), max_norm=1.0)
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
    # --8<-- [end:train]


# %%
# --8<-- [start:main]
def main():
    check_writable("rnn_reading.png")  # the figure, saved at the end
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
    net = RowReader().to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=PEAK_LR)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=PEAK_LR,
        total_steps=EPOCHS * math.ceil(len(train_x) / BATCH_SIZE),
    )
    parameters = sum(p.numel() for p in net.parameters())
    print(
        f"{parameters:,} parameters, on {device.type}, "
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
        "parameters": parameters,
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
# ## Reading row by row, in pictures
#
# The answer the network would give after each row it has read: for one
# validation digit, and as an accuracy over the whole validation set (the
# test set is not looked at again).

# %%
# --8<-- [start:plots]
import matplotlib.pyplot as plt


@torch.no_grad()
def accuracy_per_row(net, images, labels, batch_size=2000):
    """The accuracy (%) if we stopped reading after row 1, 2, ... 28."""
    net.eval()
    correct = torch.zeros(28, device=images.device)
    for i in range(0, len(images), batch_size):
        logits = net(images[i : i + batch_size], every_step=True)
        guesses = logits.argmax(dim=2)  # (batch, 28)
        correct += (guesses == labels[i : i + batch_size, None]).sum(dim=0)
    return (correct / len(images) * 100).tolist()


@torch.no_grad()
def plot_reading(net, image, label, per_row, filename="rnn_reading.png"):
    """Left: the digit. Middle: the probability of each digit after each
    row. Right: the validation accuracy after each row."""
    net.eval()
    probabilities = net(image[None], every_step=True).softmax(dim=2)[0]
    probabilities, image = probabilities.cpu(), image.cpu()  # to draw them
    fig, (img_ax, prob_ax, acc_ax) = plt.subplots(
        1, 3, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1, 1.3, 1.6]}
    )
    img_ax.imshow(image, cmap="gray_r")
    img_ax.set(title=f"a validation digit ({label})", ylabel="row")
    prob_ax.imshow(
        probabilities,
        cmap="Blues",
        vmin=0,
        vmax=1,
        aspect="auto",
        extent=(-0.5, 9.5, 28.5, 0.5),
    )
    prob_ax.set(
        xticks=range(10),
        xlabel="digit",
        ylabel="rows read",
        title="probability of each digit",
    )
    rows = range(1, 29)
    acc_ax.plot(rows, per_row, "o-", markersize=3, color="C1")
    acc_ax.set(
        xlabel="rows read",
        ylabel="validation accuracy (%)",
        title="accuracy after each row",
        ylim=(0, 100),
    )
    acc_ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(filename, dpi=100)
    return fig


if __name__ == "__main__":
    per_row = accuracy_per_row(net, valid_x, valid_y)
    results["validation_accuracy_per_row"] = per_row
    plot_reading(net, valid_x[0], valid_y[0].item(), per_row)
    print("Saved rnn_reading.png")
# --8<-- [end:plots]
