# %% [markdown]
# # Scaling out's exercises, solved
#
# The worked solutions to the exercises at the end of the book's page
# "Scaling out: several processes with torch.distributed", one cell each,
# after the cells they share. They start no process: they show in one
# process what DistributedDataParallel and DistributedSampler do. Run it
# cell by cell here, or as a script with
# `python -m examples.ch07.distributed_exercises`.

# %%
# --8<-- [start:setup]

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torch.utils.data.distributed import DistributedSampler

MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels, scaled to [0, 1]
DATA_DIR = "./data"
results = {}  # what each solution measured: the page quotes it


def make_net():
    """The chapter's network, 784 -> 512 (ReLU) -> 10."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10)
    )


def fit(net, batch_size, lr):
    """One epoch of the page's recipe (SGD with Nesterov momentum, a
    one-cycle schedule) in one process; returns the number of steps."""
    optimizer = torch.optim.SGD(
        net.parameters(), lr=lr, momentum=0.9, nesterov=True
    )
    batches = torch.randperm(len(train_images)).split(batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, len(batches))
    for batch in batches:
        loss = F.cross_entropy(net(train_images[batch]), train_labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return len(batches)


@torch.no_grad()
def accuracy(net):
    """The percentage of test digits the network reads correctly."""
    return 100 * (net(test_images).argmax(1) == test_labels).float().mean()
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
# --8<-- [end:load]


# %% [markdown]
# ## 1. An all-reduce by hand


# %%
# --8<-- [start:allreduce]
def gradient(loss):
    """The gradient of `loss` for all of net's weights, as one vector."""
    net.zero_grad()
    loss.backward()
    return torch.cat([p.grad.flatten() for p in net.parameters()])


torch.manual_seed(1)
net = make_net()
results["allreduce"] = {}
for size, world in ((256, 2), (216, 5)):  # a batch, and the processes
    x, y = train_images[:size], train_labels[:size]
    whole = gradient(F.cross_entropy(net(x), y))  # one process
    shares = [(x[rank::world], y[rank::world]) for rank in range(world)]
    mean = sum(gradient(F.cross_entropy(net(a), b)) for a, b in shares)
    scaled = sum(
        gradient(F.cross_entropy(net(a), b, reduction="sum") * world / size)
        for a, b in shares
    )
    found = {  # all-reduce: the average of the processes' gradients
        name: (average / world - whole).abs().max().item()
        for name, average in (("mean", mean), ("scaled", scaled))
    }
    print(
        f"{size} images, {world} processes: off by {found['mean']:.1e} "
        f"(means), {found['scaled']:.1e} (scaled sums)"
    )
    results["allreduce"][size] = found
# --8<-- [end:allreduce]

# %% [markdown]
# ## 2. Predict, then run: DistributedSampler

# %%
# --8<-- [start:sampler]
results["sampler"] = {}
for drop_last in (False, True):  # 10 items, 3 processes, in order
    shares = [
        list(
            DistributedSampler(
                range(10),
                num_replicas=3,
                rank=rank,
                shuffle=False,
                drop_last=drop_last,
            )
        )
        for rank in range(3)
    ]
    print(f"drop_last={drop_last}: {shares}")
    results["sampler"][str(drop_last)] = shares
sampler = DistributedSampler(range(55_000), num_replicas=3, rank=0)
orders = []
for epoch in (0, 0, 1):
    sampler.set_epoch(epoch)
    orders.append(list(sampler))
repeated = 3 * len(sampler) - 55_000
print(f"{len(sampler):,} images per process, {repeated} repeated")
print("epoch 0 twice, the same order:", orders[0] == orders[1])
print("epoch 1, the same order as 0:", orders[0] == orders[2])
results["sampler"]["per_process"] = len(sampler)
results["sampler"]["repeated"] = repeated
results["sampler"]["same"] = [orders[0] == orders[1], orders[0] == orders[2]]
# --8<-- [end:sampler]

# %% [markdown]
# ## 3. A global batch, or a batch per process?

# %%
# --8<-- [start:global_batch]
results["global_batch"] = []
for name, batch_size, lr in (
    ("the page's global 256", 256, 0.3),
    ("256 in each of 4", 1024, 0.3),
    ("the same, lr times 4", 1024, 1.2),
):
    torch.manual_seed(1)
    net = make_net()
    steps = fit(net, batch_size, lr)
    print(f"{name:>21}: {steps:3} steps, test accuracy {accuracy(net):.2f} %")
    results["global_batch"].append(
        {
            "batch_size": batch_size,
            "lr": lr,
            "steps": steps,
            "accuracy": accuracy(net).item(),
        }
    )
# --8<-- [end:global_batch]
