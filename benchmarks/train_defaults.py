"""Benchmark: how examples/ch07/train.py's defaults compare with their alternatives, on the
validation set alone.

    python benchmarks/train_defaults.py [--data-root DIR]   # DIR holds MNIST/raw (default ./data)

Each trial trains the program's network with its own functions (split_validation, Net,
make_optimizer, OneCycleLR, train_epoch, evaluate), exactly as its main() does, with one
setting changed from the defaults: the peak learning rate and the batch size of SGD with
Nesterov momentum, Adam and AdamW at three learning rates, the number of epochs, and the seed
of the default run (which measures how far two runs differ by chance alone). Every figure is
on the 5,000 held-out validation images; the test set is never read, so that the choice of
defaults leaves the program's final test figure unbiased. Writes the raw figures to
benchmarks/results/train_defaults.json and the table to train_defaults.md beside it, which
the page "Training faster and safer" shows.
"""

import argparse
import datetime
import json
import math
import os
import pathlib
import platform
import statistics
import sys
import time

import torch

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: the book's root holds examples/
from examples.ch07 import train  # noqa: E402
from examples.record import cpu_model  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
THREADS = 2  # the recorded run's thread count: the default trial reproduces its figures
DEFAULTS = {"optimizer": "sgd", "lr": 0.3, "batch_size": 256, "epochs": 3, "seed": 1}
# One setting changed at a time; each list includes the default's value.
TRIALS = (
    [{"lr": lr, "batch_size": b} for b in (64, 256, 1024) for lr in (0.03, 0.1, 0.3, 1.0)]
    + [{"optimizer": o, "lr": lr} for o in ("adam", "adamw") for lr in (0.001, 0.003, 0.01)]
    + [{"epochs": epochs} for epochs in (1, 2, 5, 8)]
    + [{"seed": seed} for seed in (2, 3, 4, 5)]
)


def trial(data, optimizer, lr, batch_size, epochs, seed):
    """One run of train.py's training with these settings; its validation figures."""
    (train_x, train_y), (val_x, val_y) = data
    torch.manual_seed(seed)  # the initial weights, as main() seeds them
    shuffler = torch.Generator().manual_seed(seed)  # the order of images
    net = train.Net()
    steps_per_epoch = math.ceil(len(train_x) / batch_size)
    opt = train.make_optimizer(optimizer, net.parameters(), lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=epochs * steps_per_epoch
    )
    start = time.perf_counter()
    try:
        with train.tqdm(total=len(train_x), disable=True) as progress:
            for _ in range(epochs):
                train.train_epoch(
                    net, train_x, train_y, opt, scheduler, batch_size, shuffler, progress
                )
    except FloatingPointError as error:
        return {"diverged": str(error)}
    seconds = time.perf_counter() - start
    loss, accuracy = train.evaluate(net, val_x, val_y)
    return {"validation_loss": loss, "validation_accuracy": accuracy, "train_seconds": seconds}


def summarise(rows):
    """What the page quotes: the default, its spread over seeds, the best alternative in the
    same three epochs and what more epochs bought; and whether the defaults stand. A setting
    replaces a default only if it beats the default's mean over the seeds by more than their
    spread (the largest minus the smallest), which chance alone produced."""

    def but(settings, key):
        return {k: v for k, v in settings.items() if k != key}

    finished = [r for r in rows if "validation_accuracy" in r]
    seeds = [r for r in finished if but(r["settings"], "seed") == but(DEFAULTS, "seed")]
    accuracies = [r["validation_accuracy"] for r in seeds]
    mean, spread = statistics.mean(accuracies), max(accuracies) - min(accuracies)
    same_length = [
        r for r in finished if r["settings"]["epochs"] == DEFAULTS["epochs"] and r not in seeds
    ]
    epochs = [r for r in finished if but(r["settings"], "epochs") == but(DEFAULTS, "epochs")]

    def best_of(rows):
        return max(rows, key=lambda r: r["validation_accuracy"])

    sgd = [r for r in same_length if r["settings"]["optimizer"] == "sgd"] + seeds[:1]
    best = best_of(same_length)
    return {
        "default": rows[0],
        "seeds": {"min": min(accuracies), "max": max(accuracies), "mean": mean, "spread": spread},
        "best_alternative": {**best, "above_seed_mean": best["validation_accuracy"] - mean},
        "by_epochs": {str(r["settings"]["epochs"]): r for r in epochs},
        # The best peak learning rate of SGD at each batch size, and the worst run of all.
        "best_by_batch": {
            str(b): best_of([r for r in sgd if r["settings"]["batch_size"] == b])
            for b in sorted({r["settings"]["batch_size"] for r in sgd})
        },
        "best_by_optimizer": {
            o: best_of([r for r in same_length if r["settings"]["optimizer"] == o])
            for o in ("adam", "adamw")
        },
        "worst": min(finished, key=lambda r: r["validation_accuracy"]),
        "defaults_kept": best["validation_accuracy"] - mean <= spread,
    }


def table(rows):
    """One row per trial, named by what it changed from the defaults (the first row)."""
    names = {"sgd": "SGD with Nesterov momentum", "adam": "Adam", "adamw": "AdamW"}
    lines = [
        "| trial | validation accuracy | validation loss | training time |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        settings = row["settings"]
        changed = [k for k in settings if settings[k] != DEFAULTS[k]]
        if not changed:
            trial_name = (
                f"**the defaults**: {names[settings['optimizer']]}, peak learning rate "
                f"{settings['lr']:g}, batches of {settings['batch_size']}, "
                f"{settings['epochs']} epochs, seed {settings['seed']}"
            )
        elif "optimizer" in changed:
            trial_name = f"{names[settings['optimizer']]}, peak learning rate {settings['lr']:g}"
        else:
            words = {
                "lr": "peak learning rate {:g}",
                "batch_size": "batches of {}",
                "epochs": "{} epochs",
                "seed": "seed {}",
            }
            trial_name = ", ".join(words[k].format(settings[k]) for k in changed)
        if "diverged" in row:
            cells = [trial_name, "stopped: " + row["diverged"], "", ""]
        else:
            cells = [
                trial_name,
                f"{row['validation_accuracy']:.2f} %",
                f"{row['validation_loss']:.4f}",
                f"{row['train_seconds']:.1f} s",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default="./data", help="the folder that holds MNIST/raw")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    (images, labels), _ = train.load_mnist(args.data_root)  # the test split is not used
    data = train.split_validation(images, labels)

    rows, seen = [], []
    for change in [{}] + TRIALS:
        settings = {**DEFAULTS, **change}
        if settings in seen:  # the default appears once
            continue
        seen.append(settings)
        row = {"settings": settings, **trial(data, **settings)}
        print(json.dumps(row), flush=True)
        rows.append(row)

    summary = summarise(rows)
    machine = {
        "processor": cpu_model(),
        "cpus": len(os.sched_getaffinity(0)),
        "threads": THREADS,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": datetime.date.today().isoformat(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "train_defaults.json").write_text(
        json.dumps(
            {"defaults": DEFAULTS, "rows": rows, "summary": summary, "machine": machine}, indent=1
        )
        + "\n"
    )
    seeds = summary["seeds"]
    note = (
        f"\nOne run each, on the 5,000 validation images, on {machine['processor']} "
        f"({machine['cpus']} cores, {THREADS} threads), PyTorch {machine['torch']}, "
        f"{machine['date']}. Each row after the first changes only what it names; the test "
        f"set was not read. The defaults with five seeds reached {seeds['min']:.2f}–"
        f"{seeds['max']:.2f} %: differences smaller than that {seeds['spread']:.2f}-point "
        f"spread are chance.\n"
    )
    (RESULTS / "train_defaults.md").write_text(table(rows) + note)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
