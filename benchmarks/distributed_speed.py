"""Benchmark: examples/ch07/distributed.py on 1 and 2 processes, on the full MNIST.

    python benchmarks/distributed_speed.py [--data-root DIR]  # DIR/MNIST/raw; default ./data

Each run is a fresh `torchrun --standalone` (as `python -m torch.distributed.run`) training the
default recipe (3 epochs, global batch 256) with the thread count pinned per process:
1 process x 1 thread, 1 process x 2 threads and 2 processes x 1 thread, alternating so that any
drift of the machine hits all alike. Reports the median training throughput (images per
second, from rank 0's training time, which includes waiting for the other rank) and the test
accuracy, which the program reads once, at the end of the run. Writes the raw figures to
benchmarks/results/distributed_speed.json and the table to distributed_speed.md beside it.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile

import torch

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: the book's root holds examples/
from examples.record import cpu_model  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
SETUPS = [(1, 1), (1, 2), (2, 1)]  # (processes, threads per process)
# What torchrun starts: the program with its defaults, and rank 0 writes its `results` (the
# test accuracy, read once at the end, is there and not in the per-epoch history).
PROGRAM = """
import json, sys
from examples.ch07 import distributed
results = distributed.main(sys.argv[1:])
if results is not None:  # rank 0
    with open("results.json", "w") as file:
        json.dump(results, file)
"""


def key(processes, threads):
    return f"{processes}x{threads}"


def run(workdir, processes, threads):
    """One training run; its `results`, as rank 0 wrote them."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        str(processes),
        "program.py",
        "--data-dir",
        "data",
        "--checkpoint",
        "run.pt",
    ]
    (workdir / "program.py").write_text(PROGRAM)
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return json.loads((workdir / "results.json").read_text())


def allreduce_worker(repeats=200):
    """Run by torchrun: time the all-reduce DDP does every step, alone (rank 0 prints)."""
    import time

    import torch.distributed as dist

    dist.init_process_group("gloo")
    parameters = 784 * 512 + 512 + 512 * 10 + 10  # the network's: one gradient each
    gradients = torch.randn(parameters)
    for _ in range(20):  # warm up
        dist.all_reduce(gradients)
    dist.barrier()
    start = time.perf_counter()
    for _ in range(repeats):
        dist.all_reduce(gradients)
    seconds = (time.perf_counter() - start) / repeats
    if dist.get_rank() == 0:
        print(
            json.dumps(
                {"parameters": parameters, "megabytes": parameters * 4 / 1e6, "seconds": seconds}
            )
        )
    dist.destroy_process_group()


def allreduce_time():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(pathlib.Path(__file__).resolve()),
        "--allreduce-worker",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"error: the all-reduce timing failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def summarise(runs, images):
    seconds = [results["train_seconds"] for results in runs]
    epochs = len(runs[0]["history"])
    return {
        "train_seconds": statistics.median(seconds),
        "images_per_second": statistics.median(images * epochs / s for s in seconds),
        "test_accuracy": statistics.median(results["test_accuracy"] for results in runs),
        "epochs": epochs,
        "runs": [results["history"] for results in runs],
    }


def machine():
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": datetime.date.today().isoformat(),
    }


def table(report):
    m = report["machine"]
    base = report[key(1, 2)]["images_per_second"]
    lines = [
        "| processes × threads each | training time (3 epochs) | images per second "
        "| relative to 1 × 2 | final test accuracy |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for processes, threads in SETUPS:
        r = report[key(processes, threads)]
        lines.append(
            f"| {processes} × {threads} | {r['train_seconds']:.2f} s | "
            f"{r['images_per_second']:,.0f} | {r['images_per_second'] / base:.2f} × | "
            f"{r['test_accuracy']:.2f} % |"
        )
    lines += [
        "",
        f"Medians of {report['repeats']} runs of each setup, alternating, on {m['cpu']} "
        f"({m['cores']} cores), Python {m['python']}, PyTorch {m['torch']}, {m['date']}. "
        f"Global batch 256 in every setup; training time is rank 0's, without start-up "
        f"and data loading. With 2 processes, the all-reduce of the "
        f"{report['allreduce']['parameters']:,} gradients "
        f"({report['allreduce']['megabytes']:.1f} MB) that DDP does at every step took "
        f"{report['allreduce']['seconds'] * 1e3:.2f} ms when timed alone: "
        f"{report['allreduce']['seconds_per_epoch']:.2f} s per epoch of "
        f"{report['allreduce']['steps_per_epoch']} steps.",
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
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--allreduce-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.allreduce_worker:
        return allreduce_worker()
    if not (args.data_root / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        parser.error(
            f"no MNIST in {args.data_root}/MNIST/raw (the benchmark needs the full data set)"
        )

    runs = {key(*setup): [] for setup in SETUPS}
    with tempfile.TemporaryDirectory() as scratch:
        for i in range(args.repeats):
            for processes, threads in SETUPS:
                workdir = pathlib.Path(scratch) / f"{key(processes, threads)}-{i}"
                workdir.mkdir()
                (workdir / "data").symlink_to(args.data_root.resolve(), target_is_directory=True)
                results = run(workdir, processes, threads)
                runs[key(processes, threads)].append(results)
                print(
                    f"{processes} process(es) x {threads} thread(s), run {i + 1}: "
                    f"{results['train_seconds']:.2f} s, "
                    f"{results['test_accuracy']:.2f} %",
                    flush=True,
                )
    # The images it trains on: MNIST's training set less the validation set it holds out.
    trained = {results["train_images"] for setup in runs.values() for results in setup}
    report = {"machine": machine(), "repeats": args.repeats, "train_images": trained.pop()}
    for name, histories in runs.items():
        report[name] = summarise(histories, report["train_images"])
    allreduce = allreduce_time()
    steps = -(-report["train_images"] // 256)  # per epoch, at the global batch of 256
    report["allreduce"] = {
        **allreduce,
        "steps_per_epoch": steps,
        "seconds_per_epoch": allreduce["seconds"] * steps,
    }
    report["speedup_2x1_over_1x2"] = (
        report[key(2, 1)]["images_per_second"] / report[key(1, 2)]["images_per_second"]
    )
    report["speedup_2x1_over_1x1"] = (
        report[key(2, 1)]["images_per_second"] / report[key(1, 1)]["images_per_second"]
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "distributed_speed.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / "distributed_speed.md").write_text(table(report))
    print(table(report))


if __name__ == "__main__":
    main()
