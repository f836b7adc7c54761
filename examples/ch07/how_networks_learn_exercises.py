# %% [markdown]
# # How a network learns: the exercises, solved
#
# The worked solutions to the exercises at the end of the book's page "How a
# network learns", one cell each, after the cells they share. Run it cell by
# cell here, or as a script with
# `python -m examples.ch07.how_networks_learn_exercises`. Like the page's
# program, it runs on the CPU: the gradient check needs 64-bit floats.

# %%
# --8<-- [start:setup]
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels, scaled to [0, 1]
DATA_DIR = "./data"
HIDDEN = 64
BATCH_SIZE = 64
LEARNING_RATE = 0.1
results = {}  # what each solution measured: the page quotes it


def page_start():
    """Where the page's epoch starts: the weights of its Net() after
    torch.manual_seed(1), as four tensors W1, b1, W2, b2, and the order in
    which it then shuffles the training images."""
    torch.manual_seed(1)
    fc1, fc2 = nn.Linear(784, HIDDEN), nn.Linear(HIDDEN, 10)
    weights = [
        p.detach().clone() for p in (*fc1.parameters(), *fc2.parameters())
    ]
    return weights, torch.randperm(len(train_images))


# The page's forward pass, softmax, loss, backward pass and step, as they are.
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


def fit_by_hand(weights, order, forward=forward, backward=backward):
    """One epoch of the page's hand-written SGD step (learning rate 0.1,
    batches of 64 in the given order); the trained weights."""
    for batch in order.split(BATCH_SIZE):
        x, z1, h, logits = forward(weights, train_images[batch])
        probs = softmax(logits)
        grads = backward(weights, x, z1, h, probs, train_labels[batch])
        weights = sgd_step(weights, grads, LEARNING_RATE)
    return weights


def accuracy(weights, forward=forward):
    """The percentage of test digits the weights read correctly."""
    predicted = forward(weights, test_images)[3].argmax(dim=1)
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
torch.manual_seed(0)  # the page's mini-batch: 64 real digits
batch = torch.randperm(len(train_images))[:BATCH_SIZE]
images, labels = train_images[batch], train_labels[batch]
# --8<-- [end:load]

# %% [markdown]
# ## 1. Predict, then run: every score 0

# %%
# --8<-- [start:uniform]
W1, b1, W2, b2 = page_start()[0]
weights = [W1, b1, torch.zeros_like(W2), torch.zeros_like(b2)]
x, z1, h, logits = forward(weights, images)  # every logit is 0
probs = softmax(logits)
loss = cross_entropy(probs, labels)
grads = backward(weights, x, z1, h, probs, labels)
share = torch.bincount(labels, minlength=10) / len(labels)
print(f"loss {loss.item():.6f}, log 10 = {math.log(10):.6f}")
print("gradient of b2:", [round(g, 4) for g in grads[3].tolist()])
print("0.1 - share   :", [round(g, 4) for g in (0.1 - share).tolist()])
print(
    f"largest gradient of W1: {grads[0].abs().max().item()}, "
    f"of W2: {grads[2].abs().max().item():.4f}"
)
results["uniform"] = {
    "loss": loss.item(),
    "b2_difference": (grads[3] - (0.1 - share)).abs().max().item(),
    "W1_largest_gradient": grads[0].abs().max().item(),
    "W2_largest_gradient": grads[2].abs().max().item(),
}
# --8<-- [end:uniform]

# %% [markdown]
# ## 2. Gradient checking in 32 and 64 bits

# %%
# --8<-- [start:precision]
weights = [w.double() for w in page_start()[0]]
x, z1, h, logits = forward(weights, images.double())
grads = backward(weights, x, z1, h, softmax(logits), labels)
row, column = divmod(grads[2].abs().argmax().item(), HIDDEN)
exact = grads[2][row, column].item()  # backpropagation, in float64


def nudged_slope(dtype, eps):
    """The page's two-sided slope for fc2.weight[row, column]."""
    up = [w.to(dtype, copy=True) for w in weights]  # two copies of all
    down = [w.to(dtype, copy=True) for w in weights]
    up[2][row, column] += eps
    down[2][row, column] -= eps

    def loss_of(ws):
        logits = forward(ws, images.to(dtype))[3]
        return cross_entropy(softmax(logits), labels).item()

    return (loss_of(up) - loss_of(down)) / (2 * eps)


results["precision"] = []
print(f"backprop: {exact:.8f}; |nudged - backprop| with")
print("   eps     float32    float64")
for eps in (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7):
    error32 = abs(nudged_slope(torch.float32, eps) - exact)
    error64 = abs(nudged_slope(torch.float64, eps) - exact)
    print(f"{eps:6.0e}  {error32:9.1e}  {error64:9.1e}")
    results["precision"].append(
        {"eps": eps, "float32": error32, "float64": error64}
    )
results["precision_gradient"] = exact
# --8<-- [end:precision]

# %% [markdown]
# ## 3. Tanh instead of ReLU, by hand


# %%
# --8<-- [start:tanh]
def forward_tanh(weights, images):
    W1, b1, W2, b2 = weights
    x = images.flatten(1)
    z1 = x @ W1.T + b1
    h = z1.tanh()  # the one line that changes in the forward pass
    z2 = h @ W2.T + b2
    return x, z1, h, z2


def backward_tanh(weights, x, z1, h, probs, labels):
    W1, b1, W2, b2 = weights
    onehot = F.one_hot(labels, num_classes=10).float()
    dz2 = (probs - onehot) / len(labels)
    dW2 = dz2.T @ h
    db2 = dz2.sum(dim=0)
    dh = dz2 @ W2
    dz1 = dh * (1 - h**2)  # and in the backward: tanh'(z) = 1 - tanh(z)^2
    dW1 = dz1.T @ x
    db1 = dz1.sum(dim=0)
    return [dW1, db1, dW2, db2]


# Checked against autograd on the page's mini-batch
weights = page_start()[0]
leaves = [w.clone().requires_grad_() for w in weights]
F.cross_entropy(forward_tanh(leaves, images)[3], labels).backward()
x, z1, h, logits = forward_tanh(weights, images)
ours = backward_tanh(weights, x, z1, h, softmax(logits), labels)
agree = all(torch.allclose(g, w.grad) for g, w in zip(ours, leaves))
print("our tanh gradients equal autograd's:", agree)

results["tanh"] = {"agree": agree}
for name, steps in (
    ("ReLU", (forward, backward)),
    ("Tanh", (forward_tanh, backward_tanh)),
):
    weights, order = page_start()
    trained = fit_by_hand(weights, order, *steps)
    results["tanh"][name] = accuracy(trained, steps[0])
    print(
        f"{name}: test accuracy {results['tanh'][name]:.2f} % after one epoch"
    )
# --8<-- [end:tanh]

# %% [markdown]
# ## 4. Why start from random weights?

# %%
# --8<-- [start:symmetry]
results["symmetry"] = {}
for name, value in (("zero", 0.0), ("constant", 0.01)):
    weights, order = page_start()
    weights = [torch.full_like(w, value) for w in weights]
    W1, b1, W2, b2 = fit_by_hand(weights, order)
    spread = (W1 - W1[0]).abs().max().item()  # how far the units differ
    change = (W2 - value).abs().max().item()  # how far W2 moved
    predicted = forward([W1, b1, W2, b2], test_images)[3].argmax(dim=1)
    kinds = len(predicted.unique())
    print(
        f"every weight {value}: the hidden units differ by {spread}; "
        f"W2 moved by up to {change:.2f}; {kinds} different answers, "
        f"test accuracy {accuracy([W1, b1, W2, b2]):.2f} %"
    )
    results["symmetry"][name] = {
        "spread": spread,
        "W2_change": change,
        "answers": kinds,
        "accuracy": accuracy([W1, b1, W2, b2]),
        "most_common_share": 100
        * torch.bincount(test_labels).max().item()
        / len(test_labels),
    }
# --8<-- [end:symmetry]
