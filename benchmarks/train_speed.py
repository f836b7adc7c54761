"""Benchmark: the chapter's program (examples/ch07/mnist_mlp.py) against examples/ch07/train.py.

    python benchmarks/train_speed.py [--data-root DIR]   # DIR holds MNIST/raw (default ./data)

mnist_mlp.py is the program of the page "The Code" as this edition prints it (the manuscript's
program, as printed, could not run). Both programs train the same network (784-512-10, ReLU) on
the full MNIST on the same machine, each run a fresh process with the same pinned thread count,
alternating so that any drift of the machine hits both alike. For each program it reports the
median seconds per epoch, the total training time, the final test accuracy (train.py reads the
test set once, at the end; the chapter's program after every epoch, its last is the final one)
and the peak resident memory; and, as a yardstick, the compute floor: the time the model's own
matrix multiplies take for one epoch at each program's batch size, measured here, and how far
each program is from it. Writes the raw figures to benchmarks/results/train_speed.json and the
table to train_speed.md beside it.
"""

import argparse
import datetime
import json
import math
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import torch

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: the book's root holds examples/
from examples.record import cpu_model  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
# Images trained on per epoch: all of MNIST's training set for the chapter's program; for
# train.py, the same less the 5,000 it holds out as its validation set.
CHAPTER_IMAGES, FAST_IMAGES = 60_000, 55_000
# FLOPs one training image costs the 784-512-10 network: the forward pass (two matrix
# multiplies), the weight gradients of both layers, and the gradient flowing back into
# the hidden layer (none flows into the input, which needs no gradient).
FLOPS_PER_IMAGE = 2 * (784 * 512 + 512 * 10) * 2 + 2 * 512 * 10

# The chapter's program, as the page "The Code" prints it: examples/ch07/mnist_mlp.py.
CHAPTER = """
import json
from examples.ch07 import mnist_mlp
net, test_set, results = mnist_mlp.main()
print(json.dumps(results["history"]))
"""

# The fast program, with its defaults: its `results` as the last line (train.py reads the
# test set once, at the end of the run, so the figure is there, not in its history).
FAST = """
import json
from examples.ch07 import train
results = train.main(["--data-dir", "data", "--checkpoint", "run.pt"])
print(json.dumps(results))
"""


def run(command, workdir, threads):
    """Run a program in workdir; its stdout and its peak resident memory (MB)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    with open(workdir / "stdout.txt", "w+") as out:
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=out, stderr=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(process.pid, 0)  # the rusage of this child alone
        out.seek(0)
        stdout = out.read()
    if status != 0:
        sys.exit(f"error: {' '.join(command)} failed (status {status}):\n{stdout[-2000:]}")
    return stdout, usage.ru_maxrss / 1024  # Linux reports kilobytes


def chapter_run(workdir, threads):
    """Its history, its final test accuracy (that of its last epoch) and its peak memory."""
    stdout, rss = run([sys.executable, "-c", CHAPTER], workdir, threads)
    history = json.loads(stdout.strip().splitlines()[-1])
    return history, history[-1]["test_accuracy"], rss


def fast_run(workdir, threads):
    """Its history, its test accuracy (read once, at the end) and its peak memory."""
    stdout, rss = run([sys.executable, "-c", FAST], workdir, threads)
    results = json.loads(stdout.strip().splitlines()[-1])
    return results["history"], results["test_accuracy"], rss


def gemm_floor(batch_size, images, threads, repeats=5):
    """Seconds per epoch that the model's matrix multiplies alone take at this batch size."""
    torch.set_num_threads(threads)
    x, h, g = (
        torch.randn(batch_size, 784),
        torch.randn(batch_size, 512),
        torch.randn(batch_size, 10),
    )
    w1, w2 = torch.randn(512, 784), torch.randn(10, 512)
    steps = math.ceil(images / batch_size)
    timings = []
    for _ in range(repeats + 1):  # the first pass warms up and is dropped
        start = time.perf_counter()
        for _ in range(steps):
            x @ w1.T, h @ w2.T  # forward
            g.T @ h, g @ w2, (h.T @ x)  # gradients of W2, of the hidden layer, of W1
        timings.append(time.perf_counter() - start)
    seconds = statistics.median(timings[1:])
    return {
        "batch_size": batch_size,
        "seconds_per_epoch": seconds,
        "gflops": FLOPS_PER_IMAGE * steps * batch_size / seconds / 1e9,
    }


def per_epoch(history):
    cumulative = [0.0] + [row["train_seconds"] for row in history]
    return [b - a for a, b in zip(cumulative, cumulative[1:])]


def summarise(runs, batch_size, floor):
    seconds = statistics.median(s for history, _, _ in runs for s in per_epoch(history))
    return {
        "batch_size": batch_size,
        "epochs": len(runs[0][0]),
        "seconds_per_epoch": seconds,
        "train_seconds": statistics.median(history[-1]["train_seconds"] for history, _, _ in runs),
        "test_accuracy": statistics.median(accuracy for _, accuracy, _ in runs),
        "peak_rss_mb": statistics.median(rss for _, _, rss in runs),
        "floor_seconds_per_epoch": floor["seconds_per_epoch"],
        "times_floor": seconds / floor["seconds_per_epoch"],
        "runs": [history for history, _, _ in runs],
    }


def machine(threads):
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": threads,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": datetime.date.today().isoformat(),
    }


def table(report):
    m, s, f = report["machine"], report["chapter"], report["fast"]
    rows = [
        ("batch size", s["batch_size"], f["batch_size"]),
        ("epochs", s["epochs"], f["epochs"]),
        (
            "seconds per epoch (median)",
            f"{s['seconds_per_epoch']:.2f}",
            f"{f['seconds_per_epoch']:.2f}",
        ),
        ("total training time", f"{s['train_seconds']:.1f} s", f"{f['train_seconds']:.1f} s"),
        ("final test accuracy", f"{s['test_accuracy']:.2f} %", f"{f['test_accuracy']:.2f} %"),
        ("peak resident memory", f"{s['peak_rss_mb']:.0f} MB", f"{f['peak_rss_mb']:.0f} MB"),
        (
            "compute floor per epoch (matrix multiplies alone)",
            f"{s['floor_seconds_per_epoch']:.2f} s",
            f"{f['floor_seconds_per_epoch']:.2f} s",
        ),
        ("time per epoch ÷ floor", f"{s['times_floor']:.1f} ×", f"{f['times_floor']:.1f} ×"),
    ]
    lines = [
        "| | the chapter's program, `examples/ch07/mnist_mlp.py` | `examples/ch07/train.py` |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {name} | {a} | {b} |" for name, a, b in rows]
    lines += [
        "",
        f"Medians of {report['repeats']} runs of each program, alternating, on {m['cpu']} "
        f"({m['cores']} cores, {m['threads']} threads pinned), Python {m['python']}, "
        f"PyTorch {m['torch']}, {m['date']}. Per epoch the fast program is "
        f"**{report['speedup_per_epoch']:.1f} ×** faster; "
        f"its whole run, **{f['train_seconds']:.1f} s** of training "
        f"(**{report['speedup_total']:.0f} ×** less than `mnist_mlp.py` spends "
        f"on its {s['epochs']} epochs), ends at {f['test_accuracy']:.2f} % test accuracy, "
        f"read once at the end, against {s['test_accuracy']:.2f} %. "
        f"The model's matrix multiplies ran at {report['gemm'][0]['gflops']:.0f} GFLOP/s at "
        f"batch size {report['gemm'][0]['batch_size']} and "
        f"{report['gemm'][1]['gflops']:.0f} GFLOP/s at {report['gemm'][1]['batch_size']}.",
    ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-root",
        type=pathlib.Path,
        default=pathlib.Path("data"),
        help="folder holding MNIST/raw/ (default: ./data)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not (args.data_root / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        parser.error(
            f"no MNIST in {args.data_root}/MNIST/raw (the benchmark needs the full data set)"
        )

    chapter, fast = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for i in range(args.repeats):
            for name, runner, runs in (
                ("chapter", chapter_run, chapter),
                ("fast", fast_run, fast),
            ):
                workdir = pathlib.Path(scratch) / f"{name}{i}"
                workdir.mkdir()
                (workdir / "data").symlink_to(args.data_root.resolve(), target_is_directory=True)
                runs.append(runner(workdir, args.threads))
                history, accuracy, _ = runs[-1]
                print(
                    f"{name} run {i + 1}: {accuracy:.2f} % test accuracy after "
                    f"{history[-1]['train_seconds']:.1f} s of training",
                    flush=True,
                )
    gemm = [
        gemm_floor(64, CHAPTER_IMAGES, args.threads),
        gemm_floor(256, FAST_IMAGES, args.threads),
    ]
    report = {
        "machine": machine(args.threads),
        "repeats": args.repeats,
        "gemm": gemm,
        "chapter": summarise(chapter, 64, gemm[0]),
        "fast": summarise(fast, 256, gemm[1]),
    }
    report["speedup_per_epoch"] = (
        report["chapter"]["seconds_per_epoch"] / report["fast"]["seconds_per_epoch"]
    )
    report["speedup_total"] = report["chapter"]["train_seconds"] / report["fast"]["train_seconds"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "train_speed.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / "train_speed.md").write_text(table(report))
    print(table(report))


if __name__ == "__main__":
    main()
