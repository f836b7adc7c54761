# %% [markdown]
# # Optimizers compared, as a notebook
#
# The chapter's network (784 inputs, 512 hidden ReLU units, 10 outputs)
# trained from the same initial weights, on the same mini-batches, by SGD,
# SGD with momentum, Adam and RMSprop. A sweep of learning rates, measured on
# a validation set held out from the training images, chooses each
# optimizer's rate; the four then race at their chosen rates, watched on the
# validation set, and the test set is read once, at the end. The book's page
# "Optimizers compared" explains the results.

# %%
# --8<-- [start:setup]
# --8<-- [start:imports]
import copy
import errno
import math
import os
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels, scaled to [0, 1]
EPOCHS = 5
BATCH_SIZE = 128
SWEEP_EPOCHS = 1  # the learning-rate sweep trains for less: many runs
SWEEP_LRS = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
# --8<-- [end:imports]


# --8<-- [start:network]
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
        # --8<-- [end:network]


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
# --8<-- [start:optimizers]
# Each optimizer as a function of the network's parameters and a learning
# rate, with PyTorch's default settings otherwise; the sweep in main()
# chooses the learning rate.
OPTIMIZERS = {
    "sgd": ("SGD", lambda params, lr: torch.optim.SGD(params, lr=lr)),
    "momentum": (
        "SGD + momentum 0.9",
        lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9),
    ),
    "adam": ("Adam", lambda params, lr: torch.optim.Adam(params, lr=lr)),
    "rmsprop": (
        "RMSprop",
        lambda params, lr: torch.optim.RMSprop(params, lr=lr),
    ),
}
# --8<-- [end:optimizers]


# %%
# --8<-- [start:train]
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


def train(initial_net, make_optimizer, lr, train_set, validation_set, epochs):
    """Train a copy of `initial_net`; return it, with the training loss and
    the validation loss and accuracy after every epoch. Every call sees the
    same mini-batches in the same order (seed 1). The test set is not an
    argument: nothing here can read it."""
    (train_x, train_y), (validation_x, validation_y) = (
        train_set,
        validation_set,
    )
    net = copy.deepcopy(initial_net)  # the same starting weights every time
    optimizer = make_optimizer(net.parameters(), lr)
    shuffler = torch.Generator().manual_seed(1)
    history = []
    for epoch in range(1, epochs + 1):
        net.train()
        order = torch.randperm(len(train_x), generator=shuffler)
        order = order.to(train_x.device)
        # The loss is summed where it is computed, on the device: reading it
        # with .item() at every step would make the processor wait for the
        # accelerator at every step. It is read once, after the epoch.
        total = torch.zeros((), device=train_x.device)
        for start in range(0, len(train_x), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            loss = F.cross_entropy(net(train_x[batch]), train_y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(batch)
        train_loss = total.item() / len(train_x)
        validation_loss, accuracy = evaluate(net, validation_x, validation_y)
        if not math.isfinite(train_loss + validation_loss):  # lr far too high
            history.append(
                {
                    "epoch": epoch,
                    "diverged": True,
                    "train_loss": None,
                    "validation_loss": None,
                    "validation_accuracy": None,
                }
            )
            break
        history.append(
            {
                "epoch": epoch,
                "diverged": False,
                "train_loss": train_loss,
                "validation_loss": validation_loss,
                "validation_accuracy": accuracy,
            }
        )
    return net, history
    # --8<-- [end:train]


# %%
# --8<-- [start:main]
def main():
    check_writable(
        "optimizers_curves.png", "optimizers_lr.png"
    )  # saved at the end
    # The accelerator (a GPU) if there is one, else the CPU: the same code
    # runs on both, as the data and the network are moved to `device`.
    device = (
        torch.accelerator.current_accelerator()
        if torch.accelerator.is_available()
        else torch.device("cpu")
    )
    (images, labels), (test_x, test_y) = load_mnist(device=device)
    train_set, validation_set = split_validation(images, labels)
    torch.manual_seed(1)
    initial_net = Net().to(device)  # one set of initial weights for all

    # The sweep: every optimizer at five learning rates, for SWEEP_EPOCHS
    # epochs each, measured on the validation set.
    sweep = {}
    for key, (name, make_optimizer) in OPTIMIZERS.items():
        sweep[key] = []
        for lr in SWEEP_LRS:
            _, history = train(
                initial_net,
                make_optimizer,
                lr,
                train_set,
                validation_set,
                SWEEP_EPOCHS,
            )
            sweep[key].append({"lr": lr, **history[-1]})
            shown = (
                "diverged"
                if history[-1]["diverged"]
                else f"validation accuracy "
                f"{history[-1]['validation_accuracy']:.2f} %"
            )
            print(f"sweep  {name:18}  lr {lr:<6g}  {shown}")

    # The choice: each optimizer's learning rate is the one of its highest
    # validation accuracy in the sweep.
    chosen = {
        key: max(
            (point for point in points if not point["diverged"]),
            key=lambda point: point["validation_accuracy"],
        )["lr"]
        for key, points in sweep.items()
    }

    # The race: each optimizer at its chosen learning rate, for EPOCHS
    # epochs, watched on the validation set.
    runs, networks = {}, {}
    for key, (name, make_optimizer) in OPTIMIZERS.items():
        lr = chosen[key]
        networks[key], history = train(
            initial_net, make_optimizer, lr, train_set, validation_set, EPOCHS
        )
        runs[key] = {
            "name": name,
            "lr": lr,
            "history": history,
            "final": history[-1],
        }
        for row in history:
            shown = (
                "the loss diverged"
                if row["diverged"]
                else f"train loss {row['train_loss']:.4f}  "
                f"validation loss {row['validation_loss']:.4f}  "
                f"validation accuracy {row['validation_accuracy']:.2f} %"
            )
            print(f"{name:18}  lr {lr:<6g}  epoch {row['epoch']}  {shown}")

    # Every choice is made: only now the test set, once per optimizer.
    for key, run in runs.items():
        test_loss, test_accuracy = evaluate(networks[key], test_x, test_y)
        run["test_loss"], run["test_accuracy"] = test_loss, test_accuracy
        print(
            f"test   {run['name']:18}  lr {run['lr']:<6g}  "
            f"validation accuracy {run['final']['validation_accuracy']:.2f} %"
            f"  test accuracy {test_accuracy:.2f} %"
        )

    return {
        "train_images": len(train_set[0]),
        "validation_images": len(validation_set[0]),
        "test_images": len(test_x),
        "epochs": EPOCHS,
        "batch_size": BATCH_SIZE,
        "sweep_epochs": SWEEP_EPOCHS,
        "sweep": sweep,
        "runs": runs,
    }


if __name__ == "__main__":
    results = main()
# --8<-- [end:main]


# %% [markdown]
# ## The comparison in pictures
#
# The validation accuracy each optimizer reached at every learning rate of
# the sweep, and the validation loss and accuracy of the four, each at its
# chosen rate, after each epoch of the race.

# %%
# --8<-- [start:plots]
import matplotlib.pyplot as plt

# The first colours of the style in use ("C0", "C1", ...), not fixed ones: a
# style can then choose colours that suit its background.
COLOURS = {"sgd": "C0", "momentum": "C1", "adam": "C2", "rmsprop": "C3"}


def plot_sweep(sweep, runs, sweep_epochs, filename="optimizers_lr.png"):
    """Validation accuracy against the learning rate; a ring marks the rate
    chosen, a cross a run whose loss diverged."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, points in sweep.items():
        colour = COLOURS[key]
        lrs = [p["lr"] for p in points]
        # A run whose loss became nan or infinite is drawn at chance, 10 %.
        accs = [
            10.0 if p["diverged"] else p["validation_accuracy"] for p in points
        ]
        ax.plot(lrs, accs, "o-", color=colour, label=runs[key]["name"])
        for p in points:
            if p["diverged"]:
                ax.plot(p["lr"], 10.0, "x", color=colour, ms=12, mew=2)
            elif p["lr"] == runs[key]["lr"]:
                ax.plot(
                    p["lr"],
                    p["validation_accuracy"],
                    "o",
                    ms=14,
                    mfc="none",
                    mec=colour,
                    mew=2,
                )
    ax.set_xscale("log")
    ax.set(
        xlabel="learning rate (log scale)",
        ylabel="validation accuracy (%)",
        title=f"Validation accuracy after {sweep_epochs} epoch(s) "
        f"(ring: chosen)",
    )
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(filename, dpi=100)
    return fig


def plot_curves(runs, filename="optimizers_curves.png"):
    """Validation loss and accuracy after each epoch, one line an
    optimizer."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, run in runs.items():
        epochs = [row["epoch"] for row in run["history"]]
        label = f"{run['name']} (lr {run['lr']:g})"
        for ax, figure in (
            (loss_ax, "validation_loss"),
            (acc_ax, "validation_accuracy"),
        ):
            ax.plot(
                epochs,
                [row[figure] for row in run["history"]],
                "o-",
                color=COLOURS[key],
                label=label,
            )
    loss_ax.set(
        xlabel="epoch", ylabel="cross-entropy loss", title="Validation loss"
    )
    acc_ax.set(
        xlabel="epoch", ylabel="accuracy (%)", title="Validation accuracy"
    )
    acc_ax.legend()
    for ax in (loss_ax, acc_ax):
        ax.set_xticks(epochs)  # whole epochs only
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(filename, dpi=100)
    return fig


if __name__ == "__main__":
    plot_sweep(results["sweep"], results["runs"], results["sweep_epochs"])
    plot_curves(results["runs"])
    print("Saved optimizers_lr.png and optimizers_curves.png")
# --8<-- [end:plots]
