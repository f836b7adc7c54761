# %% [markdown]
# # How a network learns, as a notebook
#
# One training step of a small network (784 inputs, 64 hidden ReLU units, 10
# outputs) written out by hand with tensors: the forward pass, softmax and
# cross-entropy, backpropagation and the SGD update. Each result is checked
# against PyTorch's autograd and `torch.optim.SGD`, then the hand-written step
# trains the network for one epoch. The book's page "How a network learns"
# explains the equations behind each line.

# %%
# --8<-- [start:setup]
# --8<-- [start:imports]
import errno
import os
import tempfile

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels, scaled to [0, 1]
HIDDEN = 64  # small, so that every tensor below is easy to picture
BATCH_SIZE = 64
LEARNING_RATE = 0.1
# --8<-- [end:imports]


# --8<-- [start:network]
class Net(nn.Module):
    """784 -> 64 (ReLU) -> 10: the chapter's network, with fewer units."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, HIDDEN)
        self.fc2 = nn.Linear(HIDDEN, 10)

    def forward(self, x):
        x = x.flatten(1)  # (B, 1, 28, 28) -> (B, 784)
        return self.fc2(torch.relu(self.fc1(x)))
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
# --8<-- [start:forward]
def forward(weights, images):
    """The forward pass, written out. It returns every intermediate result,
    because the backward pass needs them."""
    W1, b1, W2, b2 = weights
    x = images.flatten(1)  # (B, 784): one row per image
    z1 = x @ W1.T + b1  # (B, 64): each hidden unit's weighted sum
    h = z1.clamp(min=0)  # ReLU: negative sums become 0
    z2 = h @ W2.T + b2  # (B, 10): the logits, one score per digit
    return x, z1, h, z2


def softmax(logits):
    """Scores -> probabilities that are positive and sum to 1 per row."""
    # Subtracting each row's largest score cancels out in the division, and
    # keeps exp() from overflowing when a score is large.
    shifted = logits - logits.max(dim=1, keepdim=True).values
    exps = shifted.exp()
    return exps / exps.sum(dim=1, keepdim=True)


def cross_entropy(probs, labels):
    """The mean of -log(probability given to the right digit)."""
    right = probs[torch.arange(len(labels)), labels]
    return -right.log().mean()
    # --8<-- [end:forward]


# %%
# --8<-- [start:backward]
def backward(weights, x, z1, h, probs, labels):
    """The gradient of the loss with respect to each weight: the chain rule,
    applied from the loss back to the first layer."""
    W1, b1, W2, b2 = weights
    onehot = F.one_hot(labels, num_classes=10).float()
    dz2 = (probs - onehot) / len(labels)  # dL/dz2 of the mean loss
    dW2 = dz2.T @ h  # (10, 64), the shape of W2
    db2 = dz2.sum(dim=0)
    dh = dz2 @ W2  # the error sent back to layer 1
    dz1 = dh * (z1 > 0).float()  # ReLU lets it through where z1 > 0
    dW1 = dz1.T @ x  # (64, 784), the shape of W1
    db1 = dz1.sum(dim=0)
    return [dW1, db1, dW2, db2]


def sgd_step(weights, grads, lr):
    """Move every weight a small step against its gradient."""
    return [w - lr * g for w, g in zip(weights, grads)]
    # --8<-- [end:backward]


# %%
# --8<-- [start:check]
NAMES = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]


def one_step_both_ways(images, labels):
    """One training step by hand and one by PyTorch, from the same weights."""
    torch.manual_seed(1)
    net = Net()
    weights = [p.detach().clone() for p in net.parameters()]

    # By hand.
    x, z1, h, logits = forward(weights, images)
    probs = softmax(logits)
    loss = cross_entropy(probs, labels)
    grads = backward(weights, x, z1, h, probs, labels)
    new_weights = sgd_step(weights, grads, LEARNING_RATE)

    # By PyTorch: autograd for the gradients, torch.optim.SGD for the step.
    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE)
    optimizer.zero_grad()
    torch_loss = F.cross_entropy(net(images), labels)
    torch_loss.backward()
    torch_grads = [p.grad for p in net.parameters()]
    optimizer.step()

    def compare(ours, theirs, name=None):
        return {
            "name": name,
            "allclose": torch.allclose(ours, theirs),
            "max_abs_diff": (ours - theirs).abs().max().item(),
            "max_abs_value": theirs.abs().max().item(),
        }

    loss_after = cross_entropy(
        softmax(forward(new_weights, images)[3]), labels
    )
    return {
        "loss": compare(loss, torch_loss.detach()),
        "gradients": [
            compare(g, tg, name)
            for name, g, tg in zip(NAMES, grads, torch_grads)
        ],
        "updated_weights": [
            compare(w, p.detach(), name)
            for name, w, p in zip(NAMES, new_weights, net.parameters())
        ],
        "loss_before": loss.item(),
        "loss_after": loss_after.item(),
        "relu_active_percent": (z1 > 0).float().mean().item() * 100,
    }
    # --8<-- [end:check]


# %%
# --8<-- [start:nudge]
def nudge_one_weight(images, labels, eps=1e-4):
    """What a gradient means: nudge one weight up and down and watch the loss.
    In float64, so that the tiny change in the loss is not lost to rounding."""
    torch.manual_seed(1)
    weights = [p.detach().double() for p in Net().parameters()]
    images = images.double()

    def loss_of(weights):
        return cross_entropy(softmax(forward(weights, images)[3]), labels)

    x, z1, h, logits = forward(weights, images)
    grads = backward(weights, x, z1, h, softmax(logits), labels)
    # The output weight whose gradient is largest, as (row, column).
    row, column = divmod(grads[2].abs().argmax().item(), HIDDEN)
    up = [w.clone() for w in weights]
    down = [w.clone() for w in weights]
    up[2][row, column] += eps
    down[2][row, column] -= eps
    slope = (loss_of(up) - loss_of(down)).item() / (2 * eps)
    return {
        "weight": f"fc2.weight[{row}, {column}]",
        "backprop": grads[2][row, column].item(),
        "nudged": slope,
        "difference": abs(grads[2][row, column].item() - slope),
    }
    # --8<-- [end:nudge]


# %%
# --8<-- [start:train]
def train_one_epoch(train_x, train_y, test_x, test_y):
    """One epoch with the hand-written step, and beside it, on the same
    mini-batches, the same network trained the usual PyTorch way."""
    torch.manual_seed(1)
    net = Net()
    weights = [p.detach().clone() for p in net.parameters()]
    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE)
    order = torch.randperm(len(train_x))
    losses = []
    for start in range(0, len(train_x), BATCH_SIZE):
        batch = order[start : start + BATCH_SIZE]
        images, labels = train_x[batch], train_y[batch]

        x, z1, h, logits = forward(weights, images)  # by hand
        probs = softmax(logits)
        losses.append(cross_entropy(probs, labels).item())
        grads = backward(weights, x, z1, h, probs, labels)
        weights = sgd_step(weights, grads, LEARNING_RATE)

        optimizer.zero_grad()  # by PyTorch
        F.cross_entropy(net(images), labels).backward()
        optimizer.step()

    predictions = forward(weights, test_x)[3].argmax(dim=1)
    with torch.no_grad():
        torch_predictions = net(test_x).argmax(dim=1)
    drift = max(
        (w - p.detach()).abs().max().item()
        for w, p in zip(weights, net.parameters())
    )
    return {
        "steps": len(losses),
        "losses": losses,
        "test_accuracy": (predictions == test_y).float().mean().item() * 100,
        "torch_test_accuracy": (torch_predictions == test_y)
        .float()
        .mean()
        .item()
        * 100,
        "same_predictions": (predictions == torch_predictions)
        .float()
        .mean()
        .item()
        * 100,
        "max_weight_diff": drift,
    }


def plot_losses(losses, window=50):
    """The loss of every mini-batch, and its running mean over `window`."""
    steps = torch.arange(1, len(losses) + 1)
    values = torch.tensor(losses)
    window = min(window, len(losses))
    smooth = values.unfold(0, window, 1).mean(dim=1)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(
        steps,
        values,
        color="C0",
        alpha=0.35,  # pale: the noisy curve behind the mean
        linewidth=0.8,
        label="loss of each mini-batch",
    )
    ax.plot(
        steps[window - 1 :],
        smooth,
        color="C0",
        label=f"mean of the last {window}",
    )
    ax.set_xlabel("step (one mini-batch of 64 images)")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title("One epoch of hand-written gradient descent")
    ax.legend()
    fig.tight_layout()
    fig.savefig("how_networks_learn_loss.png", dpi=100)
    return fig
    # --8<-- [end:train]


# %%
# --8<-- [start:main]
def main():
    check_writable("how_networks_learn_loss.png")  # saved at the end
    # On the CPU even where there is an accelerator: the gradient check below
    # needs 64-bit floats, which not every accelerator has (Apple's MPS has
    # none), and the tensors are small: the whole run takes seconds here.
    (train_x, train_y), (test_x, test_y) = load_mnist()
    # The first mini-batch of a shuffled training set: real digits.
    torch.manual_seed(0)
    batch = torch.randperm(len(train_x))[:BATCH_SIZE]
    images, labels = train_x[batch], train_y[batch]

    step = one_step_both_ways(images, labels)
    print(
        f"loss by hand {step['loss_before']:.6f}, after one step "
        f"{step['loss_after']:.6f}"
    )
    for kind in ("gradients", "updated_weights"):
        for check in step[kind]:
            print(
                f"{kind:15} {check['name']:10} "
                f"allclose={check['allclose']}  "
                f"max |difference| = {check['max_abs_diff']:.1e}"
            )
    nudge = nudge_one_weight(images, labels)
    print(
        f"{nudge['weight']}: backprop says {nudge['backprop']:.8f}, "
        f"nudging says {nudge['nudged']:.8f}"
    )

    epoch = train_one_epoch(train_x, train_y, test_x, test_y)
    print(
        f"one epoch, {epoch['steps']} steps: test accuracy "
        f"{epoch['test_accuracy']:.2f} % by hand, "
        f"{epoch['torch_test_accuracy']:.2f} % by PyTorch; largest "
        f"weight difference {epoch['max_weight_diff']:.1e}"
    )
    plot_losses(epoch["losses"])
    losses = epoch.pop("losses")
    epoch["first_loss"], epoch["last_100_loss"] = (
        losses[0],
        sum(losses[-100:]) / len(losses[-100:]),
    )
    return {
        "train_images": len(train_x),
        "test_images": len(test_x),
        "one_step": step,
        "nudge": nudge,
        "epoch": epoch,
    }


if __name__ == "__main__":
    results = main()
# --8<-- [end:main]
