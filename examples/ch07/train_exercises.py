# %% [markdown]
# # Training faster and safer: the exercises, solved
#
# The worked solutions to the exercises at the end of the book's page
# "Training faster and safer", one cell each, after the cells they share.
# Run it cell by cell here, or as a script with
# `python -m examples.ch07.train_exercises`.

# %%
# --8<-- [start:setup]
import io
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torch.optim.lr_scheduler import OneCycleLR

MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels, scaled to [0, 1]
DATA_DIR = "./data"
results = {}  # what each solution measured: the page quotes it


def make_run(epochs=3, lr=0.3, one_cycle=True):
    """What train.py's main() builds, from its seed: the page's Net, SGD with
    Nesterov momentum, the one-cycle schedule (or None) and the generator
    that orders the images."""
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10)
    )
    sgd = torch.optim.SGD(net.parameters(), lr, momentum=0.9, nesterov=True)
    steps = epochs * math.ceil(len(train_images) / 256)
    schedule = OneCycleLR(sgd, lr, steps) if one_cycle else None
    return net, sgd, schedule, torch.Generator().manual_seed(1)


def run_epoch(net, sgd, schedule, shuffler):
    """train.py's train_epoch, but reading the loss after every step: None,
    or the first step whose loss is not a number, where it stops."""
    order = torch.randperm(len(train_images), generator=shuffler)
    for step, batch in enumerate(order.split(256), start=1):
        loss = F.cross_entropy(net(train_images[batch]), train_labels[batch])
        sgd.zero_grad()
        loss.backward()
        sgd.step()
        if schedule:
            schedule.step()
        if not loss.isfinite():
            return step


@torch.no_grad()
def validation_accuracy(net):
    """The percentage of validation digits the network reads correctly."""
    predicted = net(validation_images).argmax(dim=1)
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
# ## 1. The schedule, step by step

# %%
# --8<-- [start:one_cycle]
net, sgd, schedule, _ = make_run()
rates, momenta = [], []
for _ in range(schedule.total_steps):
    rates.append(schedule.get_last_lr()[0])
    momenta.append(sgd.param_groups[0]["momentum"])
    sgd.step()  # no gradients: the weights stay as they are
    schedule.step()
peak = rates.index(max(rates))
for name, step in (("first", 0), ("peak", peak), ("last", len(rates) - 1)):
    print(
        f"{name:5} step {step + 1:3} of {len(rates)}: learning rate "
        f"{rates[step]:.2g}, momentum {momenta[step]:.3g}"
    )
results["one_cycle"] = {
    "train_images": len(train_images),
    "epoch_steps": math.ceil(len(train_images) / 256),
    "steps": len(rates),
    "peak_step": peak + 1,
    "rates": [rates[0], rates[peak], rates[-1]],
    "momenta": [momenta[0], momenta[peak], momenta[-1]],
}
# --8<-- [end:one_cycle]

# %% [markdown]
# ## 2. Measure: the data, once

# %%
# --8<-- [start:data_once]
raw = torchvision.datasets.MNIST(DATA_DIR)  # the training images, as bytes
transform = torchvision.transforms.Compose(
    [
        torchvision.transforms.ToTensor(),
        torchvision.transforms.Normalize((MEAN,), (STD,)),
    ]
)
start = time.perf_counter()
one_by_one = torch.stack([transform(image) for image, _ in raw])
by_image = time.perf_counter() - start
start = time.perf_counter()
at_once = (raw.data.unsqueeze(1).float() / 255 - MEAN) / STD  # read_mnist's
whole = time.perf_counter() - start
same = torch.equal(one_by_one, at_once)
print(f"{len(raw):,} images, one at a time: {by_image:.2f} s")
print(f"all at once: {whole:.3f} s, {by_image / whole:.0f} times faster")
print("the same numbers, bit for bit:", same)
print(
    f"as float32: {at_once.nbytes / 1e6:.0f} MB; "
    f"as bytes: {raw.data.nbytes / 1e6:.0f} MB"
)
results["data_once"] = {
    "seconds": [by_image, whole],
    "times_faster": by_image / whole,
    "same": same,
    "megabytes": [at_once.nbytes / 1e6, raw.data.nbytes / 1e6],
}
del one_by_one, at_once
# --8<-- [end:data_once]

# %% [markdown]
# ## 3. Predict, then run: the schedule and its peak

# %%
# --8<-- [start:schedule]
results["schedule"] = []
runs = [(0.3, True), (10, True), (0.3, False), (0.1, False), (0.03, False)]
for lr, one_cycle in runs:
    net, sgd, schedule, shuffler = make_run(lr=lr, one_cycle=one_cycle)
    bad = [run_epoch(net, sgd, schedule, shuffler) for _ in range(3)]
    hidden = net[:3](validation_images)  # the ReLU's outputs
    dead = 100 * (hidden == 0).all(0).float().mean().item()  # always 0
    accuracy, finite = validation_accuracy(net), bad == [None] * 3
    print(
        f"lr {lr:4}, one-cycle {one_cycle!s:5}: loss a number {finite}, "
        f"validation {accuracy:5.2f} %, dead units {dead:2.0f} %"
    )
    results["schedule"].append(
        {"finite": finite, "accuracy": accuracy, "dead": dead}
    )
# --8<-- [end:schedule]

# %% [markdown]
# ## 4. Predict, then run: one broken image

# %%
# --8<-- [start:not_a_number]
image = train_images[0].clone()  # the first image, to mend it afterwards
train_images[0, 0, 14, 14] = float("nan")  # one of its pixels
net, sgd, schedule, shuffler = make_run()
step = run_epoch(net, sgd, schedule, shuffler)
train_images[0] = image
nan = sum(p.isnan().sum().item() for p in net.parameters())
print(f"the loss is nan at step {step}; then {nan:,} parameters are nan")
results["nan"] = {"step": step, "parameters": nan}
# --8<-- [end:not_a_number]

# %% [markdown]
# ## 5. Why does a checkpoint hold more than the weights?

# %%
# --8<-- [start:resume]
net, sgd, schedule, shuffler = make_run(epochs=2)
run_epoch(net, sgd, schedule, shuffler)  # epoch 1
saved = io.BytesIO()  # a checkpoint file, in memory
state = [x.state_dict() for x in (net, sgd, schedule)]
torch.save([*state, shuffler.get_state()], saved)
run_epoch(net, sgd, schedule, shuffler)  # epoch 2: the run never stopped
never_stopped = list(net.parameters())
size = saved.tell() / sum(p.nbytes for p in net.parameters())
print(f"the checkpoint: {size:.2f} times the bytes of the weights")
results["checkpoint_size"] = size

for resume in ("everything", "weights"):
    net, sgd, schedule, shuffler = make_run(epochs=2)
    state = torch.load(io.BytesIO(saved.getvalue()), weights_only=True)
    net.load_state_dict(state[0])
    if resume == "everything":  # else no momentum, the schedule at step 1
        sgd.load_state_dict(state[1])
        schedule.load_state_dict(state[2])
        shuffler.set_state(state[3])  # else epoch 1's order again
    run_epoch(net, sgd, schedule, shuffler)  # epoch 2
    same = all(map(torch.equal, net.parameters(), never_stopped))
    lr, accuracy = schedule.get_last_lr()[0], validation_accuracy(net)
    print(
        f"resumed from {resume:10}: same weights {same!s:5}, learning rate "
        f"{lr:<7.2g} validation {accuracy:.2f} %"
    )
    results[resume] = {"same": same, "lr": lr, "accuracy": accuracy}
# --8<-- [end:resume]
