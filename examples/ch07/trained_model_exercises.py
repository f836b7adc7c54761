# %% [markdown]
# # Using and debugging a trained model: the exercises, solved
#
# The worked solutions to the exercises at the end of the book's page "Using
# and debugging a trained model", one cell each, after the cells they share.
# Run it cell by cell here, or as a script with
# `python -m examples.ch07.trained_model_exercises`.

# %%
# --8<-- [start:setup]
import io
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels, scaled to [0, 1]
DATA_DIR = "./data"
BATCH_SIZE = 256
results = {}  # what each solution measured: the page quotes it


def make_net():
    """The page's Net as a nn.Sequential, from its seed, 1."""
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10)
    )


def batches(count, generator):
    """Mini-batches of indices, without end: each pass over the `count`
    images in a new random order."""
    while True:
        yield from torch.randperm(count, generator=generator).split(BATCH_SIZE)


def fit(net, loss_fn=F.cross_entropy, steps=200):
    """The checklist's runs: 200 steps of SGD at 0.1 with momentum 0.9, as
    the page's train() takes them; the losses, one per step."""
    sgd = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    order = batches(len(train_images), torch.Generator().manual_seed(1))
    losses = []
    for _, batch in zip(range(steps), order):
        loss = loss_fn(net(train_images[batch]), train_labels[batch])
        sgd.zero_grad()
        loss.backward()
        sgd.step()
        losses.append(loss.item())
    return losses


@torch.no_grad()
def accuracy(net, images=None):
    """The percentage of validation digits the network reads correctly."""
    images = validation_images if images is None else images
    predicted = net(images).argmax(dim=1)
    return 100 * (predicted == validation_labels).float().mean().item()
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


(images, labels), _ = read_mnist(DATA_DIR)  # the test set stays unread
# The page's validation set: the same one image in twelve, drawn with seed 0
(train_images, train_labels), (validation_images, validation_labels) = (
    split_validation(images, labels)
)
# --8<-- [end:load]

# %% [markdown]
# ## 1. What does weights_only refuse?

# %%
# --8<-- [start:weights_only]
net = make_net()
weights, whole = io.BytesIO(), io.BytesIO()  # two files, in memory
torch.save(net.state_dict(), weights)  # tensors, by name
torch.save(net, whole)  # the module itself, pickled with its classes
results["weights_only"] = {}
for name, file in (("state_dict", weights), ("module", whole)):
    file.seek(0)
    try:
        torch.load(file, weights_only=True)
        outcome = "loaded"
    except Exception as error:
        outcome = f"refused: {type(error).__name__}"
    print(f"{name:10} {outcome}")
    results["weights_only"][name] = outcome
# --8<-- [end:weights_only]

# %% [markdown]
# ## 2. Predict, then run: a digit off centre

# %%
# --8<-- [start:shift]
net = make_net()
losses = fit(net)  # the page's run at 0.1, kept for exercise 3
results["shift"] = []
for pixels in (0, 1, 2, 3, 4):
    shifted = validation_images.roll(pixels, dims=3)  # to the right
    results["shift"].append(accuracy(net, shifted))
    print(f"{pixels} pixels right: {results['shift'][-1]:5.2f} %")
# --8<-- [end:shift]

# %% [markdown]
# ## 3. Predict, then run: probabilities into the loss


# %%
# --8<-- [start:probabilities]
def on_probabilities(outputs, labels):  # the bug: softmax, then the loss
    return F.cross_entropy(outputs.softmax(dim=1), labels)


with torch.no_grad():  # the first loss, on the validation set
    outputs = make_net()(validation_images)
    first = {
        "right": F.cross_entropy(outputs, validation_labels).item(),
        "probabilities": on_probabilities(outputs, validation_labels).item(),
        "nll_loss": F.nll_loss(outputs.softmax(1), validation_labels).item(),
    }
print("untrained: " + ", ".join(f"{k} {v:.3f}" for k, v in first.items()))
wrong = make_net()
wrong_losses = fit(wrong, on_probabilities)
for name, run, run_losses in (
    ("right", net, losses),
    ("probabilities", wrong, wrong_losses),
):
    print(f"{name:13} after 200 steps: loss {run_losses[-1]:.3f}, ", end="")
    print(f"validation {accuracy(run):.2f} %")
floor = math.log(1 + 9 / math.e)  # every probability on the right digit
print(f"the lowest loss on probabilities: {floor:.3f}")
results["probabilities"] = {
    "first": first,
    "last": [losses[-1], wrong_losses[-1]],
    "accuracy": [accuracy(net), accuracy(wrong)],
    "floor": floor,
}
# --8<-- [end:probabilities]

# %% [markdown]
# ## 4. Change the code: accumulate gradients on purpose

# %%
# --8<-- [start:accumulate]
net = make_net()
batch = torch.arange(256)
F.cross_entropy(net(train_images[batch]), train_labels[batch]).backward()
one_batch = net[1].weight.grad.clone()  # fc1's gradient on 256 images
net.zero_grad()
for part in batch.split(64):  # four batches of 64, no zero_grad() between
    loss = F.cross_entropy(net(train_images[part]), train_labels[part])
    (loss / 4).backward()  # each a quarter of the mean over 256
difference = (net[1].weight.grad - one_batch).abs().max().item()
F.cross_entropy(net(train_images[batch]), train_labels[batch]).backward()
twice = (net[1].weight.grad.norm() / one_batch.norm()).item()
print(f"4 x 64 against 256: the gradients differ by at most {difference:.1e}")
print(f"one more backward() without zero_grad(): {twice:.3f} times the norm")
results["accumulate"] = {"difference": difference, "twice": twice}
# --8<-- [end:accumulate]
