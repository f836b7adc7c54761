# %% [markdown]
# # The chapter's program, as a notebook
#
# A two-layer fully connected network learns to read handwritten digits
# (MNIST) in 10 epochs of SGD, and is measured after every epoch on the 10,000
# test digits it never trained on. The book's page "The Code: Building Neural
# Networks" explains it line by line. Run it cell by cell here, or as a script
# with `python -m examples.ch07.mnist_mlp`.

# %%
# --8<-- [start:program]
import errno
import os
import tempfile
import time

import torch
import torch.nn as nn
import torch.optim as optim
import torchvision  # (1)!

EPOCHS = 10
BATCH_SIZE = 64
DATA_DIR = "./data"


# %%
# Define the neural network
class Net(nn.Module):  # (2)!
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 10)

    def forward(self, x):
        x = x.view(-1, 784)  # (3)!
        x = torch.relu(self.fc1(x))
        x = self.fc2(x)
        return x  # (4)!


# %%
# Load the data
def load_mnist(train):
    """The MNIST training or test set, downloaded into DATA_DIR if missing."""
    transform = torchvision.transforms.Compose(
        [
            torchvision.transforms.ToTensor(),
            torchvision.transforms.Normalize((0.1307,), (0.3081,)),  # (5)!
        ]
    )
    try:
        return torchvision.datasets.MNIST(
            DATA_DIR, train=train, download=True, transform=transform
        )
    except Exception as error:  # (6)!
        raise SystemExit(mnist_error(DATA_DIR, error)) from None


# %%
# Say what went wrong in one line, not a traceback: MNIST missing or
# damaged, or a file that the program cannot write
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
# Train the model for one pass over the training set
def train(net, loader, optimizer, criterion):
    net.train()
    total_loss = 0.0
    for inputs, labels in loader:
        optimizer.zero_grad()  # (7)!
        outputs = net(inputs)  # forward
        loss = criterion(outputs, labels)
        loss.backward()  # backward
        optimizer.step()  # optimize
        total_loss += loss.item() * len(labels)
    return total_loss / len(loader.dataset)  # mean loss per image


# Measure the model on images it was not trained on
@torch.no_grad()  # (8)!
def test(net, loader, criterion):
    net.eval()
    total_loss, correct = 0.0, 0
    for inputs, labels in loader:
        outputs = net(inputs)
        total_loss += criterion(outputs, labels).item() * len(labels)
        correct += (outputs.argmax(dim=1) == labels).sum().item()  # (9)!
    n = len(loader.dataset)
    return total_loss / n, correct / n


# %%
def main():
    # The figures are saved at the end: stop now if they cannot be.
    check_writable(
        "mnist_mlp_history.png",
        "mnist_mlp_predictions.png",
        "mnist_mlp_confusion.png",
    )
    torch.manual_seed(1)  # (10)!
    train_set, test_set = load_mnist(train=True), load_mnist(train=False)
    train_loader = torch.utils.data.DataLoader(  # (11)!
        train_set, batch_size=BATCH_SIZE, shuffle=True
    )
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=1000)

    # Set up the model, the optimizer and the loss function
    net = Net()
    optimizer = optim.SGD(net.parameters(), lr=0.01, momentum=0.5)  # (12)!
    criterion = nn.CrossEntropyLoss()  # (13)!

    history, train_seconds = [], 0.0
    for epoch in range(1, EPOCHS + 1):
        start = time.perf_counter()
        train_loss = train(net, train_loader, optimizer, criterion)
        train_seconds += time.perf_counter() - start
        test_loss, accuracy = test(net, test_loader, criterion)
        print(
            f"epoch {epoch:2d}  train loss {train_loss:.4f}  "
            f"test loss {test_loss:.4f}  "
            f"test accuracy {100 * accuracy:.2f} %"
        )
        history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "test_loss": test_loss,
                "test_accuracy": 100 * accuracy,
                "train_seconds": train_seconds,
            }
        )
    print("Finished Training")
    results = {  # (14)!
        "device": "cpu",
        "train_images": len(train_set),
        "test_images": len(test_set),
        "train_seconds": train_seconds,
        "test_accuracy": 100 * accuracy,
        "history": history,
    }
    return net, test_set, results


# %%
if __name__ == "__main__":
    net, test_set, results = main()
# --8<-- [end:program]

# %% [markdown]
# ## What the network learned, in pictures
#
# Three figures from the run above: the loss and the test accuracy after each
# epoch, the first test digits with the network's answers, and the confusion
# matrix of the whole test set. Each is also saved as a PNG file in the folder
# the program runs in.

# %%
# --8<-- [start:plots]
import matplotlib.pyplot as plt


def plot_history(history, filename="mnist_mlp_history.png"):
    """The training and test loss, and the test accuracy, after each epoch."""
    epochs = [row["epoch"] for row in history]
    train_loss = [row["train_loss"] for row in history]
    test_loss = [row["test_loss"] for row in history]
    accuracy = [row["test_accuracy"] for row in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.5))
    loss_ax.plot(epochs, train_loss, "o-", label="training")
    loss_ax.plot(epochs, test_loss, "s-", label="test")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    loss_ax.legend()
    acc_ax.plot(epochs, accuracy, "s-", color="C1")
    acc_ax.set(
        xlabel="epoch", ylabel="test accuracy (%)", title="Test accuracy"
    )
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(filename, dpi=100)
    return fig


@torch.no_grad()
def predict(net, dataset):
    """The network's answer for every image of the dataset, and the labels."""
    net.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=1000)
    predicted, labels = [], []
    for inputs, targets in loader:
        predicted.append(net(inputs).argmax(dim=1))
        labels.append(targets)
    return torch.cat(predicted), torch.cat(labels)


def plot_predictions(
    predicted, labels, dataset, filename="mnist_mlp_predictions.png"
):
    """The first 40 test digits; orange titles mark the network's mistakes."""
    fig, axes = plt.subplots(4, 10, figsize=(10, 4.6))
    for i, ax in enumerate(axes.flat):
        image, _ = dataset[i]
        ax.imshow(image.squeeze(), cmap="gray_r")
        guess, truth = predicted[i].item(), labels[i].item()
        wrong = guess != truth
        title = f"{guess} (not {truth})" if wrong else f"{guess}"
        # A mistake in the style's second colour (orange in the book's), the
        # rest in the style's colour for text.
        colour = "C1" if wrong else plt.rcParams["text.color"]
        ax.set_title(title, fontsize=10, color=colour)
        ax.axis("off")
    fig.suptitle(
        "The first 40 test images: predicted digit, mistakes in orange"
    )
    fig.tight_layout()
    fig.savefig(filename, dpi=100)
    return fig


def plot_confusion(predicted, labels, filename="mnist_mlp_confusion.png"):
    """How often each true digit (row) was read as each digit (column)."""
    matrix = torch.zeros(10, 10, dtype=torch.long)
    for true, guess in zip(labels.tolist(), predicted.tolist()):
        matrix[true, guess] += 1
    fig, ax = plt.subplots(figsize=(6, 5.4))
    ax.imshow(matrix, cmap="Blues")
    for true in range(10):
        for guess in range(10):
            count = matrix[true, guess].item()
            dark = count > matrix.max().item() / 2
            ax.text(
                guess,
                true,
                count,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "black",
            )
    ax.set(
        xticks=range(10),
        yticks=range(10),
        xlabel="predicted digit",
        ylabel="true digit",
        title="Confusion matrix of the test set",
    )
    fig.tight_layout()
    fig.savefig(filename, dpi=100)
    return fig


if __name__ == "__main__":
    predicted, labels = predict(net, test_set)
    plot_history(results["history"])
    plot_predictions(predicted, labels, test_set)
    plot_confusion(predicted, labels)
    print(
        "Saved mnist_mlp_history.png, mnist_mlp_predictions.png "
        "and mnist_mlp_confusion.png"
    )
# --8<-- [end:plots]
