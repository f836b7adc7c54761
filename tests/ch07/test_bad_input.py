"""What a reader gets wrong costs nothing: one line on stderr, a non-zero exit, no work lost.

For each kind of mistake, the real command runs in a reader's folder (tests/helpers.py), with
no network, and the test checks what the reader sees: exactly one line on stderr, no
traceback, the path or file at fault named in it. A file the program cannot write stops it
before it does anything at all: nothing on stdout (no epoch trained) and no checkpoint
written. The variants of each mistake (each damaged MNIST file, each kind of bad checkpoint,
each example's figures) are checked in this process, where they cost no start-up of Python
and PyTorch; the messages come from the examples' shared helpers (mnist_error,
check_writable, load_checkpoint), whose copies tests/test_shared_code.py holds equal.
"""

import importlib
import os
import pathlib
import shutil
import sys
import tempfile

import pytest
import torch

from examples.ch07 import deployment, train, transformer
from examples.record import example_files
from tests.helpers import MNIST_SUBSET, REPO, describe, reader_folder, run_python

TRAIN, DISTRIBUTED = "examples.ch07.train", "examples.ch07.distributed"
RAW = pathlib.Path("data", "MNIST", "raw")
TIMEOUT = 300


def one_line_error(result, *names):
    """The run failed with one line on stderr, which names every one of `names`."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0, describe(result)
    assert "Traceback" not in result.stderr, describe(result)
    assert len(lines) == 1 and "error: " in lines[0], describe(result)
    for name in names:
        assert str(name) in lines[0], f"{name} is not named\n{describe(result)}"
    return lines[0]


def one_line_exit(error, *names):
    """The same, for a SystemExit raised in this process."""
    message = str(error.value.code)
    assert message.startswith("error: ") and "\n" not in message, message
    for name in names:
        assert str(name) in message, f"{name} is not named: {message}"
    return message


def nothing_done(result, folder):
    """Nothing was trained or printed, and no checkpoint was written."""
    assert result.stdout == "", describe(result)
    assert not list(folder.rglob("*.pt")), list(folder.rglob("*.pt"))


def can_create_files(folder):
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder this user cannot write in: one made read-only, or, for root, whom file
    permissions do not stop, /sys, which takes no new files from anyone."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        for candidate in (folder, pathlib.Path("/sys")):
            if candidate.is_dir() and not can_create_files(candidate):
                yield candidate
                break
        else:
            pytest.skip("no folder here refuses new files to this user")
    finally:
        folder.chmod(0o755)


# --- Files the program cannot write: stop before any training ----------------------------


@pytest.mark.parametrize(
    "module, flag, where",
    [
        (TRAIN, "--checkpoint", "a folder"),
        (TRAIN, "--checkpoint", "under a file"),
        (TRAIN, "--metrics-out", "under a file"),
        (DISTRIBUTED, "--checkpoint", "a folder"),
        (DISTRIBUTED, "--metrics-out", "under a file"),
    ],
)
def test_an_output_that_cannot_be_written_stops_before_training(tmp_path, module, flag, where):
    folder = reader_folder(tmp_path)
    if where == "a folder":
        path = folder / "runs"
        path.mkdir()
    else:  # its folder cannot be made: a file has the folder's name
        (folder / "notes.txt").write_text("a file, not a folder\n")
        path = folder / "notes.txt" / "out"
    result = run_python(["-m", module, flag, str(path)], cwd=folder, timeout=TIMEOUT)
    one_line_error(result, path)
    nothing_done(result, folder)


def test_a_checkpoint_in_a_read_only_folder_stops_before_training(tmp_path, read_only_folder):
    folder = reader_folder(tmp_path / "reader")
    path = read_only_folder / "run.pt"
    result = run_python(["-m", TRAIN, "--checkpoint", str(path)], cwd=folder, timeout=TIMEOUT)
    one_line_error(result, path)
    nothing_done(result, folder)


def test_a_dry_run_writes_nothing_so_needs_no_writable_folder(read_only_folder):
    data = str(MNIST_SUBSET.parents[1])
    results = train.main(
        ["--dry-run", "--data-dir", data, "--checkpoint", str(read_only_folder / "run.pt")]
    )
    assert len(results["history"]) == 1


def test_a_figure_that_cannot_be_saved_stops_the_program_before_training(tmp_path):
    folder = reader_folder(tmp_path)
    (folder / "cnn_feature_maps.png").mkdir()  # a folder where the figure should go
    result = run_python(["-m", "examples.ch07.cnn"], cwd=folder, timeout=TIMEOUT)
    one_line_error(result, "cnn_feature_maps.png")
    nothing_done(result, folder)


# Each example that saves files into the current folder, with the file it writes last.
LAST_FILE = {
    "cnn": "cnn_feature_maps.png",
    "rnn": "rnn_reading.png",
    "optimizers": "optimizers_lr.png",
    "regularization": "regularization_gap.png",
    "how_networks_learn": "how_networks_learn_loss.png",
    "nn_building_blocks": "nn_building_blocks_gradients.png",
    "mnist_mlp": "mnist_mlp_confusion.png",
    "transformer": "transformer_attention.png",
    "trained_model": "trained_model_checklist.png",
    "deployment": "deployment_demo_data.js",
}


def test_a_checkpoint_that_is_not_a_convnet_stops_the_deployment_before_any_work(tmp_path):
    """The command, with a file that is no checkpoint; a state_dict of another network gets
    the same one line (deployment.load_network, in this process)."""
    folder = reader_folder(tmp_path)
    (folder / "garbage.pt").write_bytes(b"not a checkpoint at all")
    result = run_python(
        ["-m", "examples.ch07.deployment", "--checkpoint", "garbage.pt"],
        cwd=folder,
        timeout=TIMEOUT,
    )
    one_line_error(result, "garbage.pt", "state_dict")
    assert not list(folder.glob("deployment_*")), "nothing written"
    torch.save({"fc1.weight": torch.zeros(2, 2)}, tmp_path / "other.pt")
    with pytest.raises(SystemExit) as error:
        deployment.load_network(tmp_path / "other.pt")
    one_line_exit(error, "other.pt", "state_dict")


def test_every_example_that_saves_figures_is_in_that_list():
    """A new example whose recorded run saved figures (or a page's data, .bin) fails here
    until LAST_FILE names it."""
    figures = REPO / "docs" / "notebooks" / "ch07"
    saving = {
        p.stem
        for p in example_files()
        if list(figures.glob(f"{p.stem}_*.png")) + list(figures.glob(f"{p.stem}_*.bin"))
    }
    assert saving == set(LAST_FILE)


@pytest.mark.parametrize("example", LAST_FILE)
def test_every_example_checks_its_files_before_it_starts(tmp_path, monkeypatch, capsys, example):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [example])  # as run with no flags, not with pytest's
    (tmp_path / LAST_FILE[example]).mkdir()  # a folder where the file should go
    module = importlib.import_module(f"examples.ch07.{example}")
    with pytest.raises(SystemExit) as error:
        module.main()
    one_line_exit(error, LAST_FILE[example])
    assert capsys.readouterr().out == "", "it started before it checked"


# --- MNIST missing or damaged: two problems, two messages --------------------------------


def damage(path, how):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        path.write_bytes(os.urandom(len(data)))
    else:
        path.write_bytes(b"")


@pytest.mark.parametrize(
    "module, name, how",
    [
        (TRAIN, "train-images-idx3-ubyte", "truncated"),
        ("examples.ch07.mnist_mlp", "t10k-labels-idx1-ubyte", "garbage"),
    ],
)
def test_a_damaged_mnist_file_is_named_with_what_to_do(tmp_path, module, name, how):
    folder = reader_folder(tmp_path)
    damage(folder / RAW / name, how)
    result = run_python(["-m", module], cwd=folder, timeout=TIMEOUT)
    line = one_line_error(result, RAW / name, "delete it")
    assert "damaged" in line and "downloaded" not in line


@pytest.mark.parametrize("how", ["truncated", "garbage", "empty"])
@pytest.mark.parametrize("name", train.MNIST_FILES)
def test_each_damaged_mnist_file_is_the_one_named(tmp_path, name, how):
    shutil.copytree(MNIST_SUBSET, tmp_path / "MNIST" / "raw")
    damage(tmp_path / "MNIST" / "raw" / name, how)
    with pytest.raises(SystemExit) as error:
        train.load_mnist(str(tmp_path))
    message = one_line_exit(error, tmp_path / "MNIST" / "raw" / name)
    assert "damaged" in message and "downloaded" not in message


def test_missing_mnist_offline_says_where_to_put_the_four_files(tmp_path):
    result = run_python(
        ["-m", TRAIN], cwd=reader_folder(tmp_path, with_data=False), timeout=TIMEOUT
    )
    line = one_line_error(
        result, "./data/MNIST/raw/", "could not be downloaded", *train.MNIST_FILES
    )
    assert "damaged" not in line


def test_one_missing_mnist_file_offline_is_missing_data_not_damage(tmp_path, monkeypatch):
    for variable in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")  # no download, at once
    shutil.copytree(MNIST_SUBSET, tmp_path / "MNIST" / "raw")
    (tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(SystemExit) as error:
        train.load_mnist(str(tmp_path))
    message = one_line_exit(error, "could not be downloaded", *train.MNIST_FILES)
    assert "damaged" not in message


# --- --resume with a checkpoint that is not one ------------------------------------------


def bad_checkpoint(path, kind):
    if kind == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    elif kind == "truncated":  # a PyTorch file cut short, as by a failed copy
        torch.save({"format": train.CHECKPOINT_FORMAT, "history": []}, path)
        path.write_bytes(path.read_bytes()[:100])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "another program's":
        torch.save({"weights": torch.zeros(3)}, path)
    elif kind == "pickled objects":  # torch.save of a whole model, not of its weights
        torch.save(torch.nn.Linear(2, 2), path)


@pytest.mark.parametrize("module, kind", [(TRAIN, "garbage"), (DISTRIBUTED, "another program's")])
def test_resume_from_a_bad_checkpoint_names_it_in_one_sentence(tmp_path, module, kind):
    folder = reader_folder(tmp_path)
    bad_checkpoint(folder / "run.pt", kind)
    result = run_python(
        ["-m", module, "--resume", "--checkpoint", "run.pt"], cwd=folder, timeout=TIMEOUT
    )
    line = one_line_error(result, "run.pt", "--checkpoint", "without --resume")
    assert "weights_only" not in line and "epoch" not in result.stdout, describe(result)


@pytest.mark.parametrize(
    "kind", ["garbage", "truncated", "empty", "another program's", "pickled objects", "missing"]
)
def test_every_bad_checkpoint_gets_the_same_short_advice(tmp_path, kind):
    path = tmp_path / "run.pt"
    bad_checkpoint(path, kind)
    with pytest.raises(SystemExit) as error:
        train.load_checkpoint(str(path))
    message = one_line_exit(error, path, "--checkpoint", "without --resume")
    # One sentence of its own, not PyTorch's paragraph about weights_only.
    assert "weights_only" not in message and len(message.replace(str(path), "")) < 160, message


# --- The Transformer's text --------------------------------------------------------------


def test_the_transformer_text_not_utf8_is_named(tmp_path):
    # A reader's copy of the program, run from its folder: it looks for its text beside
    # itself and in the current folder, both this folder.
    folder = reader_folder(tmp_path)
    program = folder / "transformer.py"
    program.write_text((REPO / "examples" / "ch07" / "transformer.py").read_text())
    (folder / "transformer_text.txt").write_bytes(b"\xff\xfe not UTF-8 " * 100)
    result = run_python([str(program)], cwd=folder, timeout=TIMEOUT)
    one_line_error(result, folder / "transformer_text.txt", "UTF-8")


def test_the_transformer_text_missing_says_where_to_find_it():
    with pytest.raises(SystemExit) as error:
        transformer.read_text("no_such_text.txt")
    one_line_exit(error, "no_such_text.txt", "examples/ch07/")


# --- Bad flags: one line, as before ------------------------------------------------------


def test_a_bad_flag_gives_one_line(tmp_path):
    result = run_python(
        ["-m", DISTRIBUTED, "--batch-size", "-1"], cwd=reader_folder(tmp_path), timeout=TIMEOUT
    )
    assert result.returncode == 2, describe(result)
    one_line_error(result, "--batch-size")
