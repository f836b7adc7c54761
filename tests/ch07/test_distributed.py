"""The claims of "Scaling out" (examples/ch07/distributed.py), on the MNIST subset.

The 2-rank runs are real: `python -m torch.distributed.run --standalone --nproc_per_node 2`
(torchrun, with the tests' interpreter) starts two CPU processes that talk through gloo. Their
weights may differ from one process's by rounding only: TOLERANCE is far below the weights'
own size (of order 0.1) and far above the float32 rounding that summing gradients in another
order brings. The single process is bit-identical to examples/ch07/train.py: same order of
images, same arithmetic.
"""

import shutil

import pytest
import torch

from examples.ch07 import distributed, train
from tests.helpers import REPO, describe, reader_folder, run_python

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
