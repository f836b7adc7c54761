"""The claims of "Scaling out" (examples/ch07/distributed.py), on the MNIST subset.

The 2-rank runs are real: `python -m torch.distributed.run --standalone --nproc_per_node 2`
(torchrun, with the tests' interpreter) starts two CPU processes that talk through gloo. Their
weights may differ from one process's by rounding only: TOLERANCE is far below the weights'
own size (of order 0.1) and far above the float32 rounding that summing gradients in another
order brings. The single process is bit-identical to examples/ch07/train.py: same order of
images, same arithmetic.

The page's commands for two machines run on this one: both machines' torchrun at once, each
in a folder of its own, meeting on 127.0.0.1 and a free port instead of the page's address.
"""

import os
import pathlib
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from examples.ch07 import distributed, train
from tests.helpers import (
    NO_NETWORK,
    PAGES,
    REPO,
    SHELL,
    describe,
    page_blocks,
    reader_folder,
    run_python,
)
from tests.test_pages import on_several_machines

DATA = str(REPO / "tests" / "data")
MODULE = "examples.ch07.distributed"
TOLERANCE = 1e-5
TWO_RANKS = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]

# Rank 0 is stopped as Ctrl-C would stop it, while it evaluates epoch 2: what is left on
# disk is the checkpoint of epoch 1, written by the 2-rank run.
INTERRUPTED = """
import sys
from examples.ch07 import distributed
evaluate, calls = distributed.evaluate, []
def interrupted(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:
        raise KeyboardInterrupt
    return evaluate(*args, **kwargs)
distributed.evaluate = interrupted
distributed.main(sys.argv[1:])
"""


def weights(path):
    return torch.load(path, weights_only=True)["model"]


def assert_close(a, b, atol):
    assert a.keys() == b.keys()
    for name in a:
        gap = (a[name] - b[name]).abs().max().item()
        assert gap <= atol, f"{name}: {gap:.2e} > {atol:.0e}"


def single_process(tmp_path, *flags):
    return distributed.main(["--data-dir", DATA, "--checkpoint", str(tmp_path / "one.pt"), *flags])


def test_one_process_is_exactly_train_py(tmp_path):
    one = single_process(tmp_path, "--epochs", "1")
    fast = train.main(
        ["--data-dir", DATA, "--checkpoint", str(tmp_path / "train.pt"), "--epochs", "1"]
    )
    assert_close(weights(tmp_path / "one.pt"), weights(tmp_path / "train.pt"), atol=0)
    # The same validation split (split_validation's own seed), and so the same figures.
    assert one["validation_images"] == fast["validation_images"]
    for key in ("validation_loss", "validation_accuracy"):
        assert one["history"][0][key] == fast["history"][0][key], key
    assert (one["test_loss"], one["test_accuracy"]) == (fast["test_loss"], fast["test_accuracy"])


def test_the_test_set_is_read_once_at_the_end(tmp_path, monkeypatch):
    """As in train.py: the validation set after every epoch, the test set once, by rank 0,
    after the last epoch; the history holds training and validation figures only."""
    evaluate, seen = distributed.evaluate, []

    def watched(net, images, labels, *args, **kwargs):
        seen.append(len(images))
        return evaluate(net, images, labels, *args, **kwargs)

    monkeypatch.setattr(distributed, "evaluate", watched)
    results = single_process(tmp_path, "--epochs", "2")
    assert seen == [results["validation_images"]] * 2 + [results["test_images"]]
    for row in results["history"]:
        assert not any(key.startswith("test") for key in row), row


@pytest.mark.slow
def test_two_ranks_match_one_process(tmp_path):
    folder = reader_folder(tmp_path / "reader")
    result = run_python(
        [*TWO_RANKS, "-m", MODULE, "--checkpoint", "two.pt", "--epochs", "1"],
        cwd=folder,
        timeout=300,
    )
    assert result.returncode == 0, describe(result)
    assert "2 process(es), gloo on cpu" in result.stdout, describe(result)
    assert result.stdout.count("epoch 1/1") == 1, "only rank 0 prints"
    single_process(tmp_path, "--epochs", "1")
    assert_close(weights(folder / "two.pt"), weights(tmp_path / "one.pt"), TOLERANCE)


@pytest.fixture(scope="module")
def interrupted_two_ranks(tmp_path_factory):
    """A 2-rank run stopped in its second epoch, and the same two epochs in one process,
    never interrupted: both resumptions below start from this one checkpoint."""
    folder = reader_folder(tmp_path_factory.mktemp("interrupted"))
    (folder / "interrupted.py").write_text(INTERRUPTED)
    result = run_python(
        [*TWO_RANKS, "interrupted.py", "--checkpoint", "run.pt", "--epochs", "2"],
        cwd=folder,
        timeout=300,
    )
    assert result.returncode != 0, describe(result)
    state = torch.load(folder / "run.pt", weights_only=True)
    assert [row["epoch"] for row in state["history"]] == [1], describe(result)
    whole = tmp_path_factory.mktemp("uninterrupted")
    single_process(whole, "--epochs", "2")
    return folder, weights(whole / "one.pt")


@pytest.mark.slow
@pytest.mark.parametrize("program", ["distributed", "train"])
def test_a_two_rank_checkpoint_resumes_in_one_process(tmp_path, program, interrupted_two_ranks):
    interrupted, uninterrupted = interrupted_two_ranks
    folder = reader_folder(tmp_path / "reader")
    shutil.copy(interrupted / "run.pt", folder / "run.pt")
    resume = MODULE if program == "distributed" else "examples.ch07.train"
    result = run_python(
        ["-m", resume, "--checkpoint", "run.pt", "--epochs", "2", "--resume"],
        cwd=folder,
        timeout=300,
    )
    resumed_message = "resuming after epoch 1 of 2" in result.stdout
    assert result.returncode == 0 and resumed_message, describe(result)
    resumed = torch.load(folder / "run.pt", weights_only=True)
    assert [row["epoch"] for row in resumed["history"]] == [1, 2]
    assert_close(resumed["model"], uninterrupted, TOLERANCE)


def test_one_process_still_does_ddp_s_work_every_step(monkeypatch):
    """The page's reason why a group of one is slower than train.py: DDP still copies the
    gradients into its bucket and all-reduces them through gloo at every step."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)  # a group of one, as the notebook runs
    rank, world_size, device = distributed.join_process_group("cpu")
    try:
        assert (rank, world_size) == (0, 1)
        torch.manual_seed(1)
        net = distributed.Net()
        model = distributed.DistributedDataParallel(net)
        images, labels = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            torch.nn.functional.cross_entropy(model(images), labels).backward()
        names = {event.key for event in prof.key_averages()}
        assert "c10d::allreduce_" in names, sorted(names)
        assert any("reducer" in name for name in names), sorted(names)
    finally:
        torch.distributed.destroy_process_group()


def test_resume_refuses_other_settings(tmp_path):
    single_process(tmp_path, "--epochs", "1")
    with pytest.raises(SystemExit, match="resume with those settings"):
        single_process(tmp_path, "--epochs", "2", "--resume")


# --- On several machines: the page's commands, both machines on this one ------------------
PAGE = REPO / "docs" / "ch07" / "distributed.md"
FIRST_MACHINE = "10.0.0.1"  # the page's address of the first machine, where rank 0 listens
# Added to the page's commands, as a reader could add it: one epoch, a few seconds on the
# subset. (After more epochs, the rounding differences grow past TOLERANCE when the two runs
# use different numbers of threads.)
ONE_EPOCH = ["--epochs", "1"]
SEVERAL_MACHINES = [b for b in page_blocks(PAGE, SHELL) if on_several_machines(b)]


def machines(block) -> list[list[str]]:
    """Each machine's command in the block, as arguments: the block's commands in order, one
    a machine, or its one command on every machine (`--nnodes` of them)."""
    lines = block.code.replace("\\\n", " ").splitlines()
    commands = [c for c in (shlex.split(line, comments=True) for line in lines) if c]
    nodes = {int(option(command, "--nnodes")) for command in commands}
    assert len(nodes) == 1, f"the commands disagree on --nnodes: {commands}"
    nodes = nodes.pop()
    commands = commands * nodes if len(commands) == 1 else commands
    assert len(commands) == nodes, f"{nodes} machines, {len(commands)} commands"
    return commands


def option(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def on_this_machine(command: list[str], port: int) -> list[str]:
    """The command with 127.0.0.1 and a free port where it names the first machine's address
    and port; nothing else changes."""
    local = {
        "--master_addr": "127.0.0.1",
        "--master_port": str(port),
        "--rdzv_endpoint": f"127.0.0.1:{port}",
    }
    command = list(command)
    for name, value in local.items():
        if name in command:
            shown = command[command.index(name) + 1]
            assert name == "--master_port" or shown.split(":")[0] == FIRST_MACHINE, shown
            command[command.index(name) + 1] = value
    return command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """The processes pid started, and theirs (Linux's /proc): torchrun starts its workers
    in sessions of their own, so killing torchrun's process group would miss them."""
    parents = {}
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def launch_at_once(commands, folders, timeout: float) -> list[subprocess.CompletedProcess]:
    """Every command started at once, each in its folder, with one thread per process; wait
    for all of them. The first to fail, or the timeout, ends the others and theirs."""
    env = {
        **os.environ,
        **NO_NETWORK,
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        # torchrun is this Python's, as in an activated virtual environment.
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
    }
    processes, why = [], ""
    try:
        for command, folder in zip(commands, folders):
            with open(folder / "stdout", "w") as out, open(folder / "stderr", "w") as err:
                processes.append(
                    subprocess.Popen(command, cwd=folder, env=env, stdout=out, stderr=err)
                )
        deadline = time.monotonic() + timeout
        while any(p.poll() is None for p in processes):
            if any(p.poll() for p in processes):
                why = "another machine's command failed"
                break
            if time.monotonic() > deadline:
                why = f"still running after {timeout:.0f} s"
                break
            time.sleep(0.2)
    finally:
        running = [p for p in processes if p.poll() is None]
        stopped = {p.pid for p in running}
        workers = [pid for p in running for pid in descendants(p.pid)]
        for p in running:
            p.send_signal(signal.SIGTERM)  # torchrun ends its workers, then itself
        for p in running:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # already gone, as it should be
                pass
    return [
        subprocess.CompletedProcess(
            command,
            p.returncode,
            (folder / "stdout").read_text(),
            (folder / "stderr").read_text() + (f"\n(stopped: {why})" if p.pid in stopped else ""),
        )
        for command, p, folder in zip(commands, processes, folders)
    ]


@pytest.fixture(scope="module")
def one_process_for_one_epoch(tmp_path_factory):
    """The same job in one process: the weights the 4 processes must end with."""
    folder = tmp_path_factory.mktemp("one_process")
    single_process(folder, *ONE_EPOCH)
    return weights(folder / "one.pt")


def test_only_this_page_shows_commands_for_several_machines():
    """The test below runs every such block of the book: none is left unrun."""
    shown = [p for p in PAGES for b in page_blocks(p, SHELL) if on_several_machines(b)]
    assert shown == [PAGE, PAGE], shown


@pytest.mark.slow
@pytest.mark.parametrize(
    "block",
    SEVERAL_MACHINES,
    ids=["node_rank" if "--node_rank" in b.code else "rendezvous" for b in SEVERAL_MACHINES],
)
def test_two_machines_run_as_two_launches_on_one(tmp_path, block, one_process_for_one_epoch):
    port = free_port()  # where the first machine's address and port were
    commands = [on_this_machine(command, port) + ONE_EPOCH for command in machines(block)]
    folders = [reader_folder(tmp_path / f"machine{n}") for n in range(len(commands))]
    runs = launch_at_once(commands, folders, timeout=300)
    report = "\n".join(
        f"=== machine {n}: {shlex.join(r.args)}\n{describe(r)}" for n, r in enumerate(runs)
    )
    assert all(r.returncode == 0 for r in runs), report
    # Rank 0 alone speaks and writes the checkpoint, on the machine of --node_rank 0 when
    # the commands name it, on the one the rendezvous chose when they do not.
    speaking = [n for n, r in enumerate(runs) if r.stdout]
    ranked = [n for n, c in enumerate(commands) if option(c, "--node_rank") == "0"]
    assert len(speaking) == 1 and ranked in ([], speaking), report
    written = [n for n, f in enumerate(folders) if (f / "mnist_train.pt").exists()]
    assert written == speaking, report
    processes = int(option(commands[0], "--nnodes")) * int(option(commands[0], "--nproc_per_node"))
    assert runs[speaking[0]].stdout.startswith(f"{processes} process(es), gloo on cpu"), report
    state = torch.load(folders[speaking[0]] / "mnist_train.pt", weights_only=True)
    assert [row["epoch"] for row in state["history"]] == [1]
    assert_close(state["model"], one_process_for_one_epoch, TOLERANCE)
