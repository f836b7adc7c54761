# %% [markdown]
# # Regularization, measured, as a notebook
#
# The chapter's network trained on only 1,000 MNIST digits, long enough to
# overfit: it learns its training images by heart and does worse on new ones.
# Then the same training with weight decay, with dropout and with batch
# normalization, to measure on a validation set, held out from MNIST's
# training images, how much each narrows the gap between training and
# validation accuracy; early stopping keeps each network at its epoch of
# lowest validation loss. The test set is read once, at the end, for the
# configuration chosen on validation and for the baseline. The book's page
# "Regularization, measured" explains the results.

# %%
# --8<-- [start:setup]
# --8<-- [start:imports]
import copy
import errno
import os
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels, scaled to [0, 1]
TRAIN_IMAGES = 1000  # a small training set, to make overfitting visible
EPOCHS = 40
BATCH_SIZE = 100
LR = 0.01
MOMENTUM = 0.9
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
# --8<-- [start:models]
class Net(nn.Module):
    """The chapter's 784 -> 512 -> 10 network, with optional dropout on the
    hidden layer and optional batch normalization before its ReLU."""

    def __init__(self, dropout=0.0, batch_norm=False):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        # An identity layer does nothing: the baseline stays the chapter's.
        self.norm = nn.BatchNorm1d(512) if batch_norm else nn.Identity()
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.fc2 = nn.Linear(512, 10)

    def forward(self, x):
        x = x.flatten(1)  # (N, 1, 28, 28) -> (N, 784)
        x = torch.relu(self.norm(self.fc1(x)))
        return self.fc2(self.drop(x))


# The variants: (name, network settings, weight decay).
VARIANTS = {
    "baseline": ("no regularization", {}, 0.0),
    "weight_decay": ("weight decay 0.02", {}, 0.02),
    "dropout": ("dropout 0.5", {"dropout": 0.5}, 0.0),
    "batch_norm": ("batch normalization", {"batch_norm": True}, 0.0),
    "all": ("all three", {"dropout": 0.5, "batch_norm": True}, 0.02),
}
# --8<-- [end:models]


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


def train(net, weight_decay, train_set, validation_set):
    """SGD with momentum on the small training set, measured on it and on
    the validation set after every epoch. Returns that history and early
    stopping's checkpoint: a copy of the network's weights at the epoch of
    lowest validation loss. Every variant sees the same mini-batches."""
    (train_x, train_y), (validation_x, validation_y) = (
        train_set,
        validation_set,
    )
    # Weight decay on the weight matrices only, as is usual: a bias, or
    # batch norm's scale or shift, is one number per unit, which leaves
    # little room to memorise, and pulling it to zero can hold a unit back.
    matrices = [p for p in net.parameters() if p.dim() > 1]
    vectors = [p for p in net.parameters() if p.dim() == 1]
    optimizer = torch.optim.SGD(
        [
            {"params": matrices, "weight_decay": weight_decay},
            {"params": vectors, "weight_decay": 0.0},
        ],
        lr=LR,
        momentum=MOMENTUM,
    )
    shuffler = torch.Generator().manual_seed(1)
    history, checkpoint = [], None
    for epoch in range(1, EPOCHS + 1):
        net.train()  # dropout on, batch norm uses the batch's statistics
        order = torch.randperm(len(train_x), generator=shuffler)
        order = order.to(train_x.device)
        for start in range(0, len(train_x), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            loss = F.cross_entropy(net(train_x[batch]), train_y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        train_loss, train_accuracy = evaluate(net, train_x, train_y)
        validation_loss, validation_accuracy = evaluate(
            net, validation_x, validation_y
        )
        history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "validation_loss": validation_loss,
                "train_accuracy": train_accuracy,
                "validation_accuracy": validation_accuracy,
                "gap": train_accuracy - validation_accuracy,
            }
        )
        # Early stopping's checkpoint: the weights of the epoch with the
        # lowest validation loss so far, copied, for training goes on
        # changing the network's own tensors.
        if validation_loss <= min(row["validation_loss"] for row in history):
            checkpoint = {
                "epoch": epoch,
                "model": copy.deepcopy(net.state_dict()),
            }
    return history, checkpoint
    # --8<-- [end:train]


# %%
# --8<-- [start:main]
def main():
    check_writable("regularization_gap.png")  # saved at the end
    # The accelerator (a GPU) if there is one, else the CPU: the same code
    # runs on both, as the data and the networks are moved to `device`.
    device = (
        torch.accelerator.current_accelerator()
        if torch.accelerator.is_available()
        else torch.device("cpu")
    )
    (images, labels), test_set = load_mnist(device=device)
    # The validation images are held out first; the small training set is
    # drawn from the other training images, so the two never overlap.
    (train_x, train_y), validation_set = split_validation(images, labels)
    small_train_set = (train_x[:TRAIN_IMAGES], train_y[:TRAIN_IMAGES])

    runs, networks = {}, {}
    for key, (name, settings, weight_decay) in VARIANTS.items():
        torch.manual_seed(1)  # the same initial weights for every variant
        net = Net(**settings).to(device)
        history, checkpoint = train(
            net, weight_decay, small_train_set, validation_set
        )
        final, best = history[-1], history[checkpoint["epoch"] - 1]
        runs[key] = {
            "name": name,
            "history": history,
            "final": final,
            "early_stopping": best,
        }
        networks[key] = (net, checkpoint)
        print(
            f"{name:20} last epoch: validation accuracy "
            f"{final['validation_accuracy']:.2f} %, loss "
            f"{final['validation_loss']:.3f}; best epoch "
            f"{best['epoch']:2}: {best['validation_accuracy']:.2f} %, "
            f"{best['validation_loss']:.3f}"
        )

    # The choice, made on the validation set: the variant whose early
    # stopping checkpoint has the lowest validation loss.
    chosen = min(
        runs, key=lambda k: runs[k]["early_stopping"]["validation_loss"]
    )
    # Only now the test set, once for each network it measures: the chosen
    # variant and the baseline, each at its last epoch and at its checkpoint.
    test = {}
    for key in dict.fromkeys(["baseline", chosen]):  # each once, in order
        net, checkpoint = networks[key]
        last_loss, last_accuracy = evaluate(net, *test_set)
        net.load_state_dict(checkpoint["model"])  # back to its best epoch
        best_loss, best_accuracy = evaluate(net, *test_set)
        test[key] = {
            "last_epoch": {
                "epoch": EPOCHS,
                "test_loss": last_loss,
                "test_accuracy": last_accuracy,
            },
            "early_stopping": {
                "epoch": checkpoint["epoch"],
                "test_loss": best_loss,
                "test_accuracy": best_accuracy,
            },
        }
        print(
            f"test set, {runs[key]['name']}: last epoch {last_accuracy:.2f} "
            f"%, loss {last_loss:.3f}; early stopping (epoch "
            f"{checkpoint['epoch']}) {best_accuracy:.2f} %, loss "
            f"{best_loss:.3f}"
        )

    closest = min(runs, key=lambda k: runs[k]["final"]["gap"])
    return {
        "train_images": len(small_train_set[0]),
        "validation_images": len(validation_set[0]),
        "test_images": len(test_set[0]),
        "epochs": EPOCHS,
        "runs": runs,
        "smallest_gap": closest,
        "smallest_gap_name": runs[closest]["name"],
        "chosen": chosen,
        "chosen_name": runs[chosen]["name"],
        "test": test,
    }


if __name__ == "__main__":
    results = main()
# --8<-- [end:main]


# %% [markdown]
# ## The gap in pictures
#
# Training accuracy (dashed) and validation accuracy (solid) after every
# epoch, for each variant, and the validation loss, with a dot at the epoch
# that early stopping keeps.

# %%
# --8<-- [start:plots]
import matplotlib.pyplot as plt

# Grey for the baseline, then the first colours of the style in use: a style
# can choose colours that suit its background ("0.45" is a grey that shows on
# white and on a dark page alike).
COLOURS = {
    "baseline": "0.45",
    "weight_decay": "C0",
    "dropout": "C1",
    "batch_norm": "C2",
    "all": "C3",
}


def plot_gap(runs, filename="regularization_gap.png"):
    """Training (dashed) and validation (solid) accuracy, and the validation
    loss with early stopping's epoch marked."""
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for key, run in runs.items():
        epochs = [row["epoch"] for row in run["history"]]
        colour = COLOURS[key]
        acc_ax.plot(
            epochs,
            [r["train_accuracy"] for r in run["history"]],
            "--",
            color=colour,
        )
        acc_ax.plot(
            epochs,
            [r["validation_accuracy"] for r in run["history"]],
            "-",
            color=colour,
            label=run["name"],
        )
        loss_ax.plot(
            epochs,
            [r["validation_loss"] for r in run["history"]],
            "-",
            color=colour,
            label=run["name"],
        )
        best = run["early_stopping"]
        loss_ax.plot(best["epoch"], best["validation_loss"], "o", color=colour)
    acc_ax.set(
        xlabel="epoch",
        ylabel="accuracy (%)",
        ylim=(80, 100.5),
        title="Training (dashed) and validation (solid) accuracy",
    )
    # Zoom in on the late epochs, where the curves part; the first epochs'
    # high losses would squash them flat.
    lowest = min(
        run["early_stopping"]["validation_loss"] for run in runs.values()
    )
    loss_ax.set(
        xlabel="epoch",
        ylabel="cross-entropy loss",
        ylim=(0.9 * lowest, 1.6 * lowest),
        title="Validation loss (zoomed); dots: early stopping's epoch",
    )
    loss_ax.legend()
    for ax in (acc_ax, loss_ax):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(filename, dpi=100)
    return fig


if __name__ == "__main__":
    plot_gap(results["runs"])
    print("Saved regularization_gap.png")
# --8<-- [end:plots]


# %% [markdown]
# ## `train()` and `eval()` give different answers
#
# Dropout and batch normalization behave differently while training and
# while evaluating. A tiny network, given the same batch of four random inputs
# twice in each mode, shows it.


# %%
# --8<-- [start:modes]
def show_modes():
    """Run a tiny network with batch norm and dropout twice in each mode."""
    torch.manual_seed(0)
    tiny = nn.Sequential(
        nn.Linear(3, 4),
        nn.BatchNorm1d(4),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(4, 2),
    )
    inputs = torch.randn(4, 3)  # a batch of four inputs
    with torch.no_grad():  # no gradients: we only look at the outputs
        tiny.train()
        first, second = tiny(inputs), tiny(inputs)
        tiny.eval()
        third, fourth = tiny(inputs), tiny(inputs)
    print("train(), first call:", first, sep="\n")
    print("train(), second call:", second, sep="\n")
    print("eval(), first call:", third, sep="\n")
    modes = {
        "train_twice_equal": torch.equal(first, second),
        "eval_twice_equal": torch.equal(third, fourth),
        "train_eval_equal": torch.equal(first, third),
    }
    for what, equal in modes.items():
        print(f"{what}: {equal}")
    return modes


if __name__ == "__main__":
    results["modes"] = show_modes()
# --8<-- [end:modes]
