# %% [markdown]
# # Training faster and safer, as a notebook
#
# The chapter's network, unchanged (784 inputs, 512 hidden ReLU units, 10
# outputs), trained by a program you could use for real work: the data sits in
# memory as one tensor, a one-cycle schedule with Nesterov momentum trains
# it in 3 epochs, and every epoch ends with an atomic checkpoint that
# `--resume` continues from. It watches a validation set, held out of the
# training images, after every epoch, and reads the test set once, at the
# end. The book's page "Training faster and safer" explains each part. Run
# it as a script with `python -m examples.ch07.train --help`.

# %%
# --8<-- [start:setup]
# --8<-- [start:imports]
import argparse
import errno
import json
import math
import os
import pathlib
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from tqdm import tqdm

MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels, scaled to [0, 1]
CHECKPOINT_FORMAT = "examples.ch07.train checkpoint, version 2"
# --8<-- [end:imports]


# --8<-- [start:network]
class Net(nn.Module):
    """The chapter's network, unchanged: 784 -> 512 (ReLU) -> 10."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 10)

    def forward(self, x):
        x = x.flatten(1)  # (N, 1, 28, 28) -> (N, 784)
        x = torch.relu(self.fc1(x))
        return self.fc2(x)
        # --8<-- [end:network]
        # --8<-- [end:setup]


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
# --8<-- [start:train]
# --8<-- [start:train_epoch]
def train_epoch(
    net,
    images,
    labels,
    optimizer,
    scheduler,
    batch_size,
    generator,
    progress,
    check_every=50,
):
    """One pass over the training set in a new random order; the mean loss.

    The loss is summed on the device and read (.item(), which waits for
    the device) only every `check_every` steps and at the end: to stop if
    it is no longer a number, and to show the epoch's mean so far."""
    net.train()
    order = torch.randperm(len(images), generator=generator).to(images.device)
    total_loss = torch.zeros((), device=images.device)
    steps = math.ceil(len(images) / batch_size)
    for step in range(1, steps + 1):
        batch = order[(step - 1) * batch_size : step * batch_size]
        loss = F.cross_entropy(net(images[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.detach() * len(batch)
        progress.update(len(batch))
        if step % check_every == 0 or step == steps:
            value = total_loss.item()  # a nan or inf stays in the sum
            if not math.isfinite(value):
                raise FloatingPointError(f"the loss became {value}")
            seen = min(step * batch_size, len(images))
            progress.set_postfix(loss=f"{value / seen:.3f}")
    return value / len(images)
    # --8<-- [end:train_epoch]


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
    # --8<-- [end:train]


# %%
# --8<-- [start:args]
# --8<-- [start:shared_args]
class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not the whole usage text
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value > 0:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a positive number"
            )
        return value

    return parse


def make_optimizer(name, params, lr):
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    return torch.optim.AdamW(params, lr=lr)
    # --8<-- [end:shared_args]


# --8<-- [start:flags]
def parse_args(argv=None):
    parser = Parser(
        prog="python -m examples.ch07.train",
        description="Train the chapter's MNIST network, fast.",
    )
    parser.add_argument("--epochs", type=positive(int), default=3)
    parser.add_argument("--batch-size", type=positive(int), default=256)
    parser.add_argument(
        "--lr",
        type=positive(float),
        default=0.3,
        help="peak learning rate of the one-cycle schedule",
    )
    parser.add_argument(
        "--optimizer",
        choices=["sgd", "adam", "adamw"],
        default="sgd",
        help="sgd means Nesterov momentum 0.9",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--device", choices=["auto", "cpu", "cuda", "mps"], default="auto"
    )
    parser.add_argument("--data-dir", default="./data")
    parser.add_argument(
        "--checkpoint",
        default="mnist_train.pt",
        help="written at the end of every epoch",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from --checkpoint"
    )
    parser.add_argument(
        "--metrics-out", metavar="FILE.jsonl", help="one JSON line per epoch"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="train on one batch, evaluate, write nothing",
    )
    return parser.parse_args(argv)


def pick_device(name):
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    if name == "auto":
        name = next(n for n in ("cuda", "mps", "cpu") if available[n])
    if not available[name]:
        raise SystemExit(f"error: --device {name} is not available here")
    return torch.device(name)
    # --8<-- [end:flags]
    # --8<-- [end:args]


# %%
# --8<-- [start:checkpoint]
def atomic_write(path, write):
    """Write into a temporary file beside `path`, then rename it over `path`:
    a crash in the middle leaves the previous file whole, never half of one."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "wb", dir=path.parent, delete=False, prefix=f".{path.name}."
    ) as file:
        try:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        except BaseException:  # an error or Ctrl-C: leave no half file behind
            file.close()
            os.unlink(file.name)
            raise
    os.chmod(file.name, 0o644)  # temporary files are private; this one is not
    os.replace(file.name, path)  # an atomic rename, on POSIX at least


def load_checkpoint(path):
    """A checkpoint of this program, read without running any pickled code."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise SystemExit(
            f"error: cannot resume: there is no checkpoint at {path}; pass "
            f"the --checkpoint of an earlier run, or start without --resume"
        ) from None
    except Exception:  # damaged, or another program's: the same advice
        state = None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise SystemExit(
            f"error: cannot resume from {path}: it is damaged or is not a "
            f"checkpoint of this program; pass another --checkpoint, or "
            f"start without --resume"
        )
    return state


def save_epoch(args, state):
    """Write the checkpoint, and the metrics if asked for, atomically."""
    atomic_write(args.checkpoint, lambda file: torch.save(state, file))
    if args.metrics_out:
        lines = "".join(json.dumps(row) + "\n" for row in state["history"])
        atomic_write(args.metrics_out, lambda file: file.write(lines.encode()))
    # --8<-- [end:checkpoint]


# %%
# --8<-- [start:main]
def main(argv=None):
    args = parse_args(argv)
    if not args.dry_run:  # files it cannot write: stop now, not after epoch 1
        check_writable(args.checkpoint, args.metrics_out)
    device = pick_device(args.device)
    # Settings that must not change when a run is resumed.
    config = {
        k: getattr(args, k)
        for k in ("epochs", "batch_size", "lr", "optimizer", "seed")
    }
    torch.manual_seed(args.seed)  # the initial weights
    shuffler = torch.Generator().manual_seed(args.seed)  # the order of images
    (images, labels), (test_x, test_y) = load_mnist(args.data_dir, device)
    # split_validation's own fixed seed, not --seed: every run holds out the
    # same 5,000 images, so a resumed run validates on the images it did
    # before, and runs with other settings are compared on the same ones.
    (train_x, train_y), (val_x, val_y) = split_validation(images, labels)

    net = Net().to(device)
    optimizer = make_optimizer(args.optimizer, net.parameters(), args.lr)
    steps_per_epoch = math.ceil(len(train_x) / args.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch
    )
    history = []
    if args.resume:
        state = load_checkpoint(args.checkpoint)
        if state["config"] != config:
            raise SystemExit(
                f"error: {args.checkpoint} was made with "
                f"{state['config']}; resume with those settings"
            )
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        shuffler.set_state(state["shuffle_rng"])
        torch.set_rng_state(state["torch_rng"])
        history = state["history"]
        print(f"resuming after epoch {len(history)} of {args.epochs}")

    for epoch in range(len(history) + 1, args.epochs + 1):
        seconds = history[-1]["train_seconds"] if history else 0.0
        batch_size = args.batch_size
        images = train_x[:batch_size] if args.dry_run else train_x
        with tqdm(
            total=len(images),
            unit="img",
            unit_scale=True,
            desc=f"epoch {epoch}/{args.epochs}",
            leave=False,
            disable=None,
        ) as progress:  # shown only on a terminal
            start = time.perf_counter()
            try:
                train_loss = train_epoch(
                    net,
                    images,
                    train_y,
                    optimizer,
                    scheduler,
                    batch_size,
                    shuffler,
                    progress,
                )
            except FloatingPointError as error:
                kept = (
                    f"the checkpoint of epoch {epoch - 1} in "
                    f"{args.checkpoint} is kept"
                    if epoch > 1
                    else "no checkpoint was written"
                )
                raise SystemExit(
                    f"error: {error} in epoch {epoch}; training "
                    f"stopped and {kept}. Try a lower --lr."
                ) from None
            seconds += time.perf_counter() - start
        # Watched after every epoch: the validation set, never the test set.
        val_loss, val_accuracy = evaluate(net, val_x, val_y)
        history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "validation_loss": val_loss,
                "validation_accuracy": val_accuracy,
                "train_seconds": seconds,
                "lr": scheduler.get_last_lr()[0],
            }
        )
        print(
            f"epoch {epoch}/{args.epochs}  train loss {train_loss:.4f}  "
            f"validation loss {val_loss:.4f}  accuracy {val_accuracy:.2f} %"
            f"  ({seconds:.1f} s of training so far)"
        )
        if args.dry_run:
            print("dry run: one batch trained and evaluated; nothing written")
            break
        state = {
            "format": CHECKPOINT_FORMAT,
            "config": config,
            "model": net.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "shuffle_rng": shuffler.get_state(),
            "torch_rng": torch.get_rng_state(),
            "history": history,
        }
        save_epoch(args, state)

    # The test set, read once, when training is over and nothing is left to
    # choose: a figure for images that no choice has seen.
    test_loss, test_accuracy = evaluate(net, test_x, test_y)
    print(
        f"test set, read once at the end: loss {test_loss:.4f}  "
        f"accuracy {test_accuracy:.2f} %"
    )
    return {
        "device": device.type,
        "threads": torch.get_num_threads(),
        "train_images": len(train_x),
        "validation_images": len(val_x),
        "test_images": len(test_x),
        "config": config,
        "history": history,
        "validation_accuracy": history[-1]["validation_accuracy"],
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
        "train_seconds": history[-1]["train_seconds"],
    }


if __name__ == "__main__":
    # In a notebook, sys.argv holds the kernel's own arguments: use defaults.
    argv = [] if "ipykernel" in sys.modules else None
    try:
        results = main(argv)
    except KeyboardInterrupt:
        sys.exit(
            "interrupted: the checkpoint of the last finished epoch is "
            "kept; run again with --resume to continue"
        )
# --8<-- [end:main]
