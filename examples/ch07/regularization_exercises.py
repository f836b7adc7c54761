# %% [markdown]
# # Regularization, measured: the exercises, solved
#
# The worked solutions to the exercises at the end of the book's page
# "Regularization, measured", one cell each, after the cells they share. Run
# it cell by cell here, or as a script with
# `python -m examples.ch07.regularization_exercises`. Like the page's
# program, the solutions train on 1,000 images and compare on the validation
# set; they never read the test set.

# %%
# --8<-- [start:setup]
import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels, scaled to [0, 1]
DATA_DIR = "./data"
TRAIN_IMAGES = 1000  # the page's small training set
BATCH_SIZE, LR, MOMENTUM = 100, 0.01, 0.9  # and its training settings
results = {}  # what each solution measured: the page quotes it


def make_net(dropout=0.0, batch_norm=False):
    """The page's Net as a nn.Sequential, with the same options and, after
    torch.manual_seed(1), the same initial weights."""
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 512),
        nn.BatchNorm1d(512) if batch_norm else nn.Identity(),
        nn.ReLU(),
        nn.Dropout(dropout) if dropout else nn.Identity(),
        nn.Linear(512, 10),
    )


@torch.no_grad()
def measure(net):
    """The mean loss and the accuracy (%) on the validation images."""
    net.eval()
    logits = net(validation_images)
    loss = F.cross_entropy(logits, validation_labels).item()
    right = (logits.argmax(dim=1) == validation_labels).float().mean()
    return loss, 100 * right.item()


def fit(net, images, labels, epochs, weight_decay=0.0):
    """Train as the page's train() does (SGD with momentum, weight decay on
    the weight matrices only, the images in an order drawn from a generator
    seeded with 1); return the validation loss and accuracy after each
    epoch."""
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
    history = []
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(images), generator=shuffler)
        for batch in order.split(BATCH_SIZE):
            loss = F.cross_entropy(net(images[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        history.append(measure(net))
    return history
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
small_images = train_images[:TRAIN_IMAGES]  # the page's 1,000
small_labels = train_labels[:TRAIN_IMAGES]
print(
    f"{len(small_images):,} training, "
    f"{len(validation_images):,} validation images"
)
# --8<-- [end:load]

# %% [markdown]
# ## 1. Predict, then run: dropout on a row of ones

# %%
# --8<-- [start:dropout]
torch.manual_seed(0)
ones = torch.ones(10_000)
results["dropout"] = {}
for p in (0.5, 0.2):
    drop = nn.Dropout(p)
    drop.train()
    trained = drop(ones)
    drop.eval()
    evaluated = drop(ones)
    values = sorted(set(trained.tolist()))
    zeros = (trained == 0).float().mean().item()
    print(
        f"p = {p}: in train() the values {values}, {100 * zeros:.1f} % "
        f"zeros, mean {trained.mean().item():.3f}; in eval() all ones: "
        f"{torch.equal(evaluated, ones)}"
    )
    results["dropout"][f"p{int(100 * p)}"] = {
        "values": values,
        "zeros_percent": 100 * zeros,
        "mean": trained.mean().item(),
        "eval_unchanged": torch.equal(evaluated, ones),
    }
# --8<-- [end:dropout]

# %% [markdown]
# ## 2. What weight decay touches, and what batch normalization adds

# %%
# --8<-- [start:count]
results["count"] = {}
for name, net in (("baseline", make_net()), ("batch_norm", make_net(0, True))):
    parameters = list(net.parameters())
    decayed = sum(p.numel() for p in parameters if p.dim() > 1)
    spared = sum(p.numel() for p in parameters if p.dim() == 1)
    saved = sum(t.numel() for t in net.state_dict().values())
    print(
        f"{name:10}: weight decay on {decayed:,} numbers, not on "
        f"{spared:,}; {saved - decayed - spared:,} more saved, not learned"
    )
    results["count"][name] = {
        "decayed": decayed,
        "spared": spared,
        "state_dict": saved,
        "not_learned": saved - decayed - spared,
    }
learned = {name for name, _ in net.named_parameters()}
print("saved, not learned:", [k for k in net.state_dict() if k not in learned])
# --8<-- [end:count]

# %% [markdown]
# ## 3. Why `copy.deepcopy` for the checkpoint?

# %%
# --8<-- [start:checkpoint]
net = make_net()
fit(net, small_images, small_labels, epochs=1)
shallow = net.state_dict()  # what train() would keep without the copy
deep = copy.deepcopy(net.state_dict())  # what it keeps
loss_after_one = measure(net)[0]
fit(net, small_images, small_labels, epochs=1)  # training goes on
now = net.state_dict()
follows = all(torch.equal(shallow[k], now[k]) for k in now)
shares = shallow["1.weight"].data_ptr() == net[1].weight.data_ptr()
differs = not torch.equal(deep["1.weight"], now["1.weight"])
print("without the copy, the checkpoint now holds epoch 2's weights:", follows)
print("because it shares its memory with the network:", shares)
print("the deep copy still holds epoch 1's:", differs)
net.load_state_dict(deep)
restored = measure(net)[0]
print(
    f"validation loss after epoch 1: {loss_after_one:.4f}; after loading "
    f"the deep copy: {restored:.4f}"
)
results["checkpoint"] = {
    "shallow_follows": follows,
    "shares_memory": shares,
    "deep_differs": differs,
    "loss_after_one": loss_after_one,
    "restored": restored == loss_after_one,
}
# --8<-- [end:checkpoint]

# %% [markdown]
# ## 4. Predict, then run: forgetting `net.eval()`

# %%
# --8<-- [start:forget_eval]
net = make_net(dropout=0.5, batch_norm=True)  # the page's "all three"
fit(net, small_images, small_labels, epochs=5, weight_decay=0.02)
before = measure(net)
running_mean = net[2].running_mean.clone()
forgot = []
with torch.no_grad():
    net.train()  # forgotten: left in training mode, as fit() leaves it
    for _ in range(2):
        logits = net(validation_images)
        right = (logits.argmax(dim=1) == validation_labels).float().mean()
        forgot.append(100 * right.item())
after = measure(net)
moved = (net[2].running_mean - running_mean).abs().max().item()
print(f"in eval():       validation accuracy {before[1]:.2f} %")
print(f"in train():      {forgot[0]:.2f} %, then {forgot[1]:.2f} %")
print(f"in eval() again: {after[1]:.2f} %")
print(f"the running means moved by up to {moved:.4f}")
print(f"validation loss: {before[0]:.4f} before, {after[0]:.4f} after")
results["forget_eval"] = {
    "eval": before[1],
    "train": forgot,
    "eval_after": after[1],
    "loss": before[0],
    "loss_after": after[0],
    "running_mean_moved": moved,
}
# --8<-- [end:forget_eval]

# %% [markdown]
# ## 5. Predict, then run: twice the data, no regularizer

# %%
# --8<-- [start:more_data]
net = make_net()
history = fit(net, train_images[:2000], train_labels[:2000], epochs=20)
losses = [loss for loss, _ in history]
best = losses.index(min(losses))  # early stopping's epoch, counted from 0
print(
    f"2,000 images, 20 epochs, no regularization: last epoch "
    f"{history[-1][1]:.2f} %, loss {history[-1][0]:.3f}; best epoch "
    f"{best + 1}: {history[best][1]:.2f} %, {history[best][0]:.3f}"
)
results["more_data"] = {
    "final": {
        "validation_loss": history[-1][0],
        "validation_accuracy": history[-1][1],
    },
    "early_stopping": {
        "epoch": best + 1,
        "validation_loss": history[best][0],
        "validation_accuracy": history[best][1],
    },
}
# --8<-- [end:more_data]
