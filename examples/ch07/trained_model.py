# %% [markdown]
# # Using and debugging a trained model, as a notebook
#
# The chapter's network (784 inputs, 512 hidden ReLU units, 10 outputs),
# trained briefly with the recipe of "Training faster and safer" and saved as
# a checkpoint in that program's format, then loaded for inference and asked
# to read a digit drawn in code, prepared as the training images were and as
# they were not. Then a checklist for a network that does not learn, each
# item measured on MNIST, and initialisation: PyTorch's default, `nn.init`,
# `model.apply`, and what a bad choice costs. The book's page "Using and
# debugging a trained model" explains the results. Run it as a script with
# `python -m examples.ch07.trained_model --help`.

# %%
# --8<-- [start:setup]
import argparse
import errno
import math
import os
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from PIL import Image, ImageDraw
from torchvision.transforms.v2.functional import pil_to_tensor

MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels, scaled to [0, 1]
CHECKPOINT_FORMAT = "examples.ch07.train checkpoint, version 2"
SEED = 1
BATCH_SIZE = 256
EPOCHS, PEAK_LR = 3, 0.3  # train.py's recipe: one-cycle, Nesterov momentum
LR = 0.1  # SGD with momentum 0.9, for the checklist's runs
SWEEP_LRS = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]


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
        # --8<-- [end:setup]


# %% tags=["parameters"]
# --8<-- [start:parameters]
# How long each run of the checklist trains: short, as a diagnosis should
# be. Change it here in a notebook, or pass --steps to the program.
STEPS = 200
# --8<-- [end:parameters]


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
def batches(count, generator):
    """Mini-batches of indices, without end: each pass over the `count`
    images in a new random order."""
    while True:
        yield from torch.randperm(count, generator=generator).split(BATCH_SIZE)


def train(net, data, optimizer, steps, generator, scheduler=None):
    """`steps` optimizer steps on mini-batches of `data`; the losses."""
    images, labels = data
    net.train()
    losses = []
    for step, batch in zip(
        range(1, steps + 1), batches(len(images), generator)
    ):
        batch = batch.to(images.device)
        loss = F.cross_entropy(net(images[batch]), labels[batch])
        if not torch.isfinite(loss):  # (1)!
            raise FloatingPointError(
                f"the loss became {loss.item()} at step {step}"
            )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(loss.item())
    return losses


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


# %% [markdown]
# ## 1. Using a trained model
#
# A checkpoint as `python -m examples.ch07.train` writes it: its format
# string, the network's `state_dict` and what resuming needs. With no
# `--checkpoint`, this program makes one with train.py's recipe; inference
# needs only the weights.


# %%
# --8<-- [start:checkpoint]
def train_checkpoint(train_set, validation_set, path, device):
    """Train the chapter's network with train.py's recipe (3 epochs of SGD
    with Nesterov momentum and a one-cycle schedule) and save it at `path`
    as train.py saves its checkpoints."""
    torch.manual_seed(SEED)  # the initial weights
    shuffler = torch.Generator().manual_seed(SEED)  # the order of images
    net = Net().to(device)
    optimizer = torch.optim.SGD(
        net.parameters(), lr=PEAK_LR, momentum=0.9, nesterov=True
    )
    steps_per_epoch = math.ceil(len(train_set[0]) / BATCH_SIZE)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=PEAK_LR, total_steps=EPOCHS * steps_per_epoch
    )
    history, start = [], time.perf_counter()
    for epoch in range(1, EPOCHS + 1):
        losses = train(
            net, train_set, optimizer, steps_per_epoch, shuffler, scheduler
        )
        validation_loss, validation_accuracy = evaluate(net, *validation_set)
        history.append(
            {
                "epoch": epoch,
                "train_loss": sum(losses) / len(losses),
                "validation_loss": validation_loss,
                "validation_accuracy": validation_accuracy,
                "train_seconds": time.perf_counter() - start,
                "lr": scheduler.get_last_lr()[0],
            }
        )
    config = {"epochs": EPOCHS, "batch_size": BATCH_SIZE, "lr": PEAK_LR}
    state = {
        "format": CHECKPOINT_FORMAT,
        "config": {**config, "optimizer": "sgd", "seed": SEED},
        "model": net.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "shuffle_rng": shuffler.get_state(),
        "torch_rng": torch.get_rng_state(),
        "history": history,
    }
    torch.save(state, path)
    return history


def load_trained(path, device="cpu"):
    """The network of a checkpoint train.py (or this program) wrote, ready
    for inference. weights_only=True: tensors, numbers and strings are read,
    no pickled code is run, whoever made the file."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise SystemExit(
            f"error: there is no checkpoint at {path}; pass one that "
            f"examples.ch07.train wrote, or leave out --checkpoint"
        ) from None
    except Exception:  # damaged, or another program's: the same advice
        state = None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise SystemExit(
            f"error: {path} is damaged or is not a checkpoint of "
            f"examples.ch07.train; pass another, or leave out --checkpoint"
        )
    net = Net().to(device)
    net.load_state_dict(state["model"])
    net.eval()  # (1)!
    return net, state
    # --8<-- [end:checkpoint]


# %%
# --8<-- [start:inference]
def draw_digit():
    """A new digit, not from MNIST: a 7 in two strokes, drawn large and
    shrunk to 28 x 28 pixels: white on black, about 18 pixels tall and
    in the middle of the frame, as MNIST's digits are."""
    canvas = Image.new("L", (280, 280), color=0)
    ImageDraw.Draw(canvas).line(
        [(90, 70), (190, 70), (130, 230)], fill=255, width=22, joint="curve"
    )
    return canvas.resize((28, 28), Image.Resampling.LANCZOS)


def predict(net, images, prepare=normalise):
    """The network's probabilities of the ten digits, (N, 10), for uint8
    images (N, 28, 28) prepared by `prepare`."""
    device = next(net.parameters()).device
    with torch.inference_mode():  # (1)!
        inputs = prepare(images).to(device)  # (N, 1, 28, 28)
        return net(inputs).softmax(dim=1)


# Mistakes in preparing an image, each as a reader might make it.
def not_normalised(images):  # ToTensor() without Normalize()
    return images.unsqueeze(1).float().div(255)


def not_scaled(images):  # the bytes as they are, 0 to 255
    return images.unsqueeze(1).float()


def inverted(images):  # black on white, as on paper
    return normalise(255 - images)


PREPARATIONS = {
    "right": normalise,
    "not_normalised": not_normalised,
    "not_scaled": not_scaled,
    "inverted": inverted,
}
# --8<-- [end:inference]


# %% [markdown]
# ## 2. A network that does not learn: a checklist


# %%
# --8<-- [start:overfit]
def overfit_one_batch(net, data, steps):
    """Train on one mini-batch, over and over: a network and a training
    loop that work learn it by heart. The losses, one per step."""
    batch = (data[0][:BATCH_SIZE], data[1][:BATCH_SIZE])
    optimizer = torch.optim.SGD(net.parameters(), lr=LR, momentum=0.9)
    return train(net, batch, optimizer, steps, torch.Generator())
    # --8<-- [end:overfit]


# --8<-- [start:gradients]
def gradient_norms(net, data, generator, zero_grad=True, steps=50):
    """Train for `steps` steps, reading the norm of every parameter's
    gradient after each backward pass. zero_grad=False is the classic bug:
    each step then adds its gradient to all the earlier ones."""
    images, labels = data
    optimizer = torch.optim.SGD(net.parameters(), lr=LR, momentum=0.9)
    norms = {name: [] for name, _ in net.named_parameters()}
    losses = []
    net.train()
    for _, batch in zip(range(steps), batches(len(images), generator)):
        batch = batch.to(images.device)
        loss = F.cross_entropy(net(images[batch]), labels[batch])
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        for name, parameter in net.named_parameters():
            norms[name].append(parameter.grad.norm().item())
        optimizer.step()
        losses.append(loss.item())
    return norms, losses
    # --8<-- [end:gradients]


# --8<-- [start:sweep]
def sweep(train_set, validation_set, steps, device):
    """Each learning rate trains a new network (the same initial weights,
    the same mini-batches) for `steps` steps; the validation set judges."""
    rows = []
    for lr in SWEEP_LRS:
        torch.manual_seed(SEED)
        net = Net().to(device)
        optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
        generator = torch.Generator().manual_seed(SEED)
        try:
            train(net, train_set, optimizer, steps, generator)
        except FloatingPointError as error:  # the guard: one line, go on
            print(f"lr {lr:g}: stopped, {error}")
            rows.append({"lr": lr, "diverged": str(error)})
            continue
        validation_loss, validation_accuracy = evaluate(net, *validation_set)
        rows.append(
            {
                "lr": lr,
                "validation_loss": validation_loss,
                "validation_accuracy": validation_accuracy,
            }
        )
        print(
            f"lr {lr:g}: validation loss {validation_loss:.4f}, "
            f"accuracy {validation_accuracy:.2f} %"
        )
    return rows
    # --8<-- [end:sweep]


# %% [markdown]
# ## 3. Initialisation


# %%
# --8<-- [start:init]
def initialise(fill):
    """A function for net.apply: every nn.Linear gets its weights from
    `fill` and zero biases; other modules are left as they are."""

    def init(module):
        if isinstance(module, nn.Linear):
            fill(module.weight)
            nn.init.zeros_(module.bias)

    return init


INITS = {
    "default": None,  # what nn.Linear did when it was made
    "kaiming_normal": lambda w: nn.init.kaiming_normal_(
        w, nonlinearity="relu"
    ),
    "zeros": nn.init.zeros_,
    "normal_1": lambda w: nn.init.normal_(w, std=1.0),
}


def compare_inits(train_set, validation_set, lr, steps, device):
    """The same training (`steps` steps at the sweep's learning rate) from
    each initialisation, measured on the validation set."""
    rows = {}
    for name, fill in INITS.items():
        torch.manual_seed(SEED)
        net = Net().to(device)
        if fill is not None:
            net.apply(initialise(fill))
        optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
        generator = torch.Generator().manual_seed(SEED)
        first_loss, _ = evaluate(net, *validation_set)  # before training
        train(net, train_set, optimizer, steps, generator)
        loss, accuracy = evaluate(net, *validation_set)
        rows[name] = {
            "first_loss": first_loss,
            "validation_loss": loss,
            "validation_accuracy": accuracy,
            # hidden units that compute the same thing: equal rows of fc1
            "distinct_hidden_units": len(net.fc1.weight.unique(dim=0)),
        }
        print(
            f"{name:15} first loss {first_loss:8.3f}, after {steps} steps "
            f"validation accuracy {accuracy:6.2f} %, "
            f"{rows[name]['distinct_hidden_units']} distinct hidden units"
        )
    return rows
    # --8<-- [end:init]


# %%
# --8<-- [start:flags]
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


def parse_args(argv=None):
    parser = Parser(
        prog="python -m examples.ch07.trained_model",
        description="Use a trained MNIST network; debug one that does not "
        "learn.",
    )
    parser.add_argument(
        "--checkpoint",
        help="a checkpoint of examples.ch07.train to use (default: train "
        "one here and save it as trained_model.pt)",
    )
    parser.add_argument(
        "--steps",
        type=positive(int),
        default=STEPS,
        help=f"steps of each run of the checklist (default: {STEPS})",
    )
    parser.add_argument("--data-dir", default="./data")
    return parser.parse_args(argv)
    # --8<-- [end:flags]


# %%
# --8<-- [start:main]
def main(argv=None):
    args = parse_args(argv)
    # The accelerator (a GPU) if there is one, else the CPU: the same code
    # runs on both, as the data and the networks are moved to `device`.
    device = (
        torch.accelerator.current_accelerator()
        if torch.accelerator.is_available()
        else torch.device("cpu")
    )
    if args.checkpoint:  # a bad file: one line, before any work
        net, state = load_trained(args.checkpoint, device)
    check_writable(None if args.checkpoint else "trained_model.pt")
    check_writable("trained_model_checklist.png")  # saved at the end
    (images, labels), _ = load_mnist(args.data_dir, device)
    train_set, validation_set = split_validation(images, labels)
    # The test images as MNIST stores them, bytes (N, 28, 28): as a new
    # image comes to a trained network, before any preparation.
    test = torchvision.datasets.MNIST(args.data_dir, train=False)
    results = {
        "device": device.type,
        "threads": torch.get_num_threads(),
        "train_images": len(train_set[0]),
        "validation_images": len(validation_set[0]),
        "test_images": len(test.data),
        "steps": args.steps,
    }

    # 1. A trained model, used as one should.
    if not args.checkpoint:
        train_checkpoint(train_set, validation_set, "trained_model.pt", device)
        net, state = load_trained("trained_model.pt", device)
    results["checkpoint"] = {
        "path": args.checkpoint or "trained_model.pt",
        "trained_here": not args.checkpoint,
        "keys": sorted(state),
        "history": state["history"],
    }
    digit = pil_to_tensor(draw_digit())  # uint8 (1, 28, 28)
    results["digit"] = {}
    for name, prepare in PREPARATIONS.items():
        probability, label = predict(net, digit, prepare)[0].max(dim=0)
        results["digit"][name] = {
            "prediction": label.item(),
            "probability": probability.item(),
        }
        print(
            f"the drawn 7, {name:15} read as {label.item()} with "
            f"probability {probability.item():.3f}"
        )
    # The only time this program reads the test set: one trained network,
    # measured once for each way of preparing the images. The choices the
    # network was made with are train.py's; the checklist below makes its
    # own on the validation set.
    results["preparations"] = {}
    for name, prepare in PREPARATIONS.items():
        probabilities = predict(net, test.data, prepare).cpu()
        confidence, predicted = probabilities.max(dim=1)
        accuracy = (predicted == test.targets).float().mean().item() * 100
        results["preparations"][name] = {
            "test_accuracy": accuracy,
            "test_mean_confidence": confidence.mean().item(),
        }
        print(
            f"test images, {name:15} {accuracy:6.2f} % correct, mean "
            f"confidence {confidence.mean().item():.3f}"
        )
    right = results["preparations"]["right"]  # the test figure to quote
    results["test_accuracy"] = right["test_accuracy"]

    # 2. A checklist for a network that does not learn.
    torch.manual_seed(SEED)
    loss, accuracy = evaluate(Net().to(device), *validation_set)
    results["first_loss"] = {
        "validation_loss": loss,
        "validation_accuracy": accuracy,
        "ln_10": math.log(10),
    }
    print(f"untrained: loss {loss:.4f} (ln 10 = {math.log(10):.4f})")

    torch.manual_seed(SEED)
    losses = overfit_one_batch(Net().to(device), train_set, args.steps)
    results["overfit_one_batch"] = {"train_loss": losses}
    print(
        f"one batch, {args.steps} steps: "
        f"loss {losses[0]:.3f} -> {losses[-1]:.5f}"
    )

    results["gradient_norms"] = {}
    for case, zero_grad in (("healthy", True), ("no_zero_grad", False)):
        torch.manual_seed(SEED)
        norms, losses = gradient_norms(
            Net().to(device),
            train_set,
            torch.Generator().manual_seed(SEED),
            zero_grad=zero_grad,
        )
        results["gradient_norms"][case] = {
            "norms": norms,
            "train_loss": losses,
        }
        print(
            f"{case:13} fc1.weight's gradient norm: step 1 "
            f"{norms['fc1.weight'][0]:.3f}, step {len(losses)} "
            f"{norms['fc1.weight'][-1]:.3f}; loss {losses[-1]:.3f}"
        )

    rows = sweep(train_set, validation_set, args.steps, device)
    finished = [row for row in rows if "validation_loss" in row]
    chosen = min(finished, key=lambda row: row["validation_loss"])["lr"]
    results["sweep"] = {"rows": rows, "chosen_lr": chosen}

    # 3. Initialisation.
    weight = Net().fc1.weight.detach()
    results["default_init"] = {
        "bound": 1 / math.sqrt(784),
        "largest": weight.abs().max().item(),
        "std": weight.std().item(),
    }
    results["inits"] = compare_inits(
        train_set, validation_set, chosen, args.steps, device
    )
    return results


if __name__ == "__main__":
    # In a notebook, sys.argv holds the kernel's own arguments: use defaults.
    results = main([] if "ipykernel" in sys.modules else None)
# --8<-- [end:main]


# %% [markdown]
# ## The checklist in pictures

# %%
import matplotlib.pyplot as plt


def plot_checklist(results, filename="trained_model_checklist.png"):
    fig, (overfit_ax, norm_ax, sweep_ax) = plt.subplots(
        1, 3, figsize=(13, 3.8)
    )
    losses = results["overfit_one_batch"]["train_loss"]
    overfit_ax.semilogy(range(1, len(losses) + 1), losses)
    overfit_ax.set(
        xlabel="step",
        ylabel="loss on the batch",
        title="Overfitting one batch",
    )
    for case, label in (
        ("healthy", "zero_grad()"),
        ("no_zero_grad", "no zero_grad()"),
    ):
        norms = results["gradient_norms"][case]["norms"]["fc1.weight"]
        norm_ax.semilogy(range(1, len(norms) + 1), norms, label=label)
    norm_ax.set(
        xlabel="step",
        ylabel="norm of fc1.weight's gradient",
        title="Gradient norms",
    )
    norm_ax.legend()
    rows = [r for r in results["sweep"]["rows"] if "validation_loss" in r]
    sweep_ax.loglog(
        [r["lr"] for r in rows], [r["validation_loss"] for r in rows], "o-"
    )
    for row in results["sweep"]["rows"]:
        if "diverged" in row:
            sweep_ax.axvline(
                row["lr"], color="C1", linestyle=":", label="loss became NaN"
            )
    sweep_ax.set(
        xlabel="learning rate (SGD, momentum 0.9)",
        ylabel="validation loss",
        title="Learning-rate sweep",
    )
    sweep_ax.legend()
    for ax in (overfit_ax, norm_ax, sweep_ax):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(filename, dpi=100)
    plt.show()


if __name__ == "__main__":
    plot_checklist(results)
