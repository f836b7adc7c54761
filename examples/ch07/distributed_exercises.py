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
import errno
import os
import tempfile

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


# %%
# --8<-- [start:load]
(train_images, train_labels), (test_images, test_labels) = load_mnist(DATA_DIR)
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
