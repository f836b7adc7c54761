# %% [markdown]
# # Optimizers compared: the exercises, solved
#
# The worked solutions to the exercises at the end of the book's page
# "Optimizers compared", one cell each, after the cells they share. Run it
# cell by cell here, or as a script with
# `python -m examples.ch07.optimizers_exercises`. Like the page's program,
# the solutions read the validation set only: every comparison they make is
# a choice, and the test set is kept for the end.

# %%
# --8<-- [start:setup]
import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels, scaled to [0, 1]
DATA_DIR = "./data"
results = {}  # what each solution measured: the page quotes it

# The page's four optimizers: a name, and a function of the parameters and a
# learning rate that builds it, with PyTorch's default settings otherwise.
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


def make_net():
    """The page's network, 784 -> 512 (ReLU) -> 10, as a nn.Sequential:
    after torch.manual_seed(1), the same initial weights as the page's."""
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10)
    )


@torch.no_grad()
def measure(net):
    """The mean loss and the accuracy (%) on the validation images."""
    net.eval()
    logits = net(validation_images)
    loss = F.cross_entropy(logits, validation_labels).item()
    right = (logits.argmax(dim=1) == validation_labels).float().mean()
    return loss, 100 * right.item()


def fit(net, optimizer, epochs=1, batch_size=128, scheduler=None):
    """Train as the page's train() does: the training images in an order
    drawn from a generator seeded with 1, the same for every call. A
    scheduler, if given, steps after every batch. Returns the validation
    loss and accuracy after each epoch."""
    shuffler = torch.Generator().manual_seed(1)
    history = []
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(train_images), generator=shuffler)
        for batch in order.split(batch_size):
            loss = F.cross_entropy(
                net(train_images[batch]), train_labels[batch]
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
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
print(
    f"{len(train_images):,} training, "
    f"{len(validation_images):,} validation images"
)
# --8<-- [end:load]

# %% [markdown]
# ## 1. What each optimizer remembers

# %%
# --8<-- [start:memory]
weights = sum(p.numel() for p in make_net().parameters())
batch = torch.arange(128)  # the first 128 training images
results["memory"] = {"parameters": weights}
for key, (name, make) in OPTIMIZERS.items():
    net = make_net()
    optimizer = make(net.parameters(), 1e-3)
    loss = F.cross_entropy(net(train_images[batch]), train_labels[batch])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()  # the state is made at the first step
    remembered = sum(  # its tensors with one number per weight
        value.numel()
        for p, state in optimizer.state.items()
        for value in state.values()
        if torch.is_tensor(value) and value.shape == p.shape
    )
    print(
        f"{name:18} keeps {remembered:9,} numbers: "
        f"{remembered / weights:.0f} per weight, "
        f"{4 * remembered / 1e6:.1f} MB in float32"
    )
    results["memory"][key] = remembered
# --8<-- [end:memory]

# %% [markdown]
# ## 2. Predict, then run: how large is a step?

# %%
# --8<-- [start:steps]
LR = 0.01
results["steps"] = {}
for key, (name, make) in OPTIMIZERS.items():
    for gradient in (1.0, 100.0):
        weight = nn.Parameter(torch.zeros(()))
        optimizer = make([weight], LR)
        sizes = []
        for _ in range(100):
            before = weight.item()
            optimizer.zero_grad()
            (gradient * weight).backward()  # its gradient: always the same
            optimizer.step()
            sizes.append((before - weight.item()) / LR)  # in units of LR
        shown = [sizes[0], sizes[9], sizes[99]]
        print(
            f"{name:18} gradient {gradient:5g}: steps 1, 10 and 100 are "
            + ", ".join(f"{size:7.2f}" for size in shown)
            + " times the learning rate"
        )
        results["steps"][f"{key}_{gradient:g}"] = shown
# --8<-- [end:steps]

# %% [markdown]
# ## 3. Why does Adam fall apart at 0.1?

# %%
# --8<-- [start:first_step]
start = make_net()  # the page's initial weights
shuffler = torch.Generator().manual_seed(1)  # as in fit(): its first batch
batch = torch.randperm(len(train_images), generator=shuffler)[:128]
typical = start[1].weight.abs().mean().item()  # the first layer's weights
loss_before = measure(start)[0]
print(
    f"before: mean |weight| {typical:.4f}, validation loss {loss_before:.3f}"
)
results["first_step"] = {"mean_weight": typical, "loss": loss_before}
for key, lr in (("sgd", 0.1), ("adam", 0.1), ("adam", 1e-3)):
    name, make = OPTIMIZERS[key]
    net = copy.deepcopy(start)
    optimizer = make(net.parameters(), lr)
    loss = F.cross_entropy(net(train_images[batch]), train_labels[batch])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    moved = (net[1].weight - start[1].weight).abs().detach()
    by_lr = 100 * (moved > 0.99 * lr).float().mean().item()  # % moved by lr
    print(
        f"{name:4} lr {lr:<5g}: mean |change| {moved.mean().item():.5f} "
        f"({moved.mean().item() / typical:.2f} of a weight), "
        f"{by_lr:.1f} % moved by the learning rate; "
        f"validation loss {measure(net)[0]:.3f}"
    )
    results["first_step"][f"{key}_{lr:.0e}"] = {  # adam_1e-03
        "mean_change": moved.mean().item(),
        "relative_change": moved.mean().item() / typical,
        "percent_moved_by_lr": by_lr,
        "loss": measure(net)[0],
    }
# --8<-- [end:first_step]

# %% [markdown]
# ## 4. Four times the batch: which learning rate?

# %%
# --8<-- [start:batch]
results["batch"] = []
for batch_size, lr in ((128, 0.1), (512, 0.1), (512, 0.4)):
    net = make_net()
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    [(loss, accuracy)] = fit(net, optimizer, batch_size=batch_size)
    steps = math.ceil(len(train_images) / batch_size)
    print(
        f"batch {batch_size}, lr {lr}: {steps:3} steps, validation "
        f"accuracy {accuracy:.2f} % after one epoch"
    )
    results["batch"].append(
        {
            "batch_size": batch_size,
            "lr": lr,
            "steps": steps,
            "accuracy": accuracy,
        }
    )
# --8<-- [end:batch]

# %% [markdown]
# ## 5. A schedule for SGD with momentum

# %%
# --8<-- [start:schedule]
EPOCHS = 5
results["schedule"] = {}
for schedule in ("constant", "cosine"):
    net = make_net()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    steps = EPOCHS * math.ceil(len(train_images) / 128)
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        if schedule == "cosine"
        else None
    )
    history = fit(net, optimizer, EPOCHS, scheduler=scheduler)
    for epoch, (loss, accuracy) in enumerate(history, 1):
        print(
            f"{schedule:8} epoch {epoch}: validation loss {loss:.4f}, "
            f"accuracy {accuracy:.2f} %"
        )
    results["schedule"][schedule] = [
        {"validation_loss": loss, "validation_accuracy": accuracy}
        for loss, accuracy in history
    ]
# --8<-- [end:schedule]
