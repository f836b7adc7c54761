"""What the tests share: where things are, a reader's working folder, and running Python."""

import functools
import io
import json
import os
import pathlib
import shutil
import subprocess
import sys

import markdown
import pytest_codeblocks
from mkdocs.config import load_config

from examples.record import data_files, example_files

REPO = pathlib.Path(__file__).resolve().parents[1]
MNIST_SUBSET = REPO / "tests" / "data" / "MNIST" / "raw"
PAGES = sorted((REPO / "docs").rglob("*.md"))
PYTHON = {"python", "py", "python3"}
SHELL = {"bash", "sh", "shell", "console"}
# Where nothing listens: every download attempt fails at once instead of reaching the
# internet, so no test ever downloads, on any machine.
NO_NETWORK = {
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
}


def reader_folder(path: pathlib.Path, with_data: bool = True) -> pathlib.Path:
    """A folder laid out as a reader's: ./data/MNIST/raw holds the tests' MNIST subset, and
    the examples' own data files (examples/record.py's `data_files`) sit beside the code a
    reader copied, as they do in the repository."""
    path.mkdir(parents=True, exist_ok=True)
    if with_data:
        shutil.copytree(MNIST_SUBSET, path / "data" / "MNIST" / "raw")
        for example in example_files():
            for data in data_files(example):
                shutil.copy(data, path / data.name)
    return path


def run(args: list[str], cwd: pathlib.Path, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run a command as a reader would, with the repository importable and no network."""
    env = {
        **os.environ,
        **NO_NETWORK,
        "PYTHONPATH": str(REPO),
        "MPLBACKEND": "Agg",
        # The commands a page shows (python, torchrun) are those of this Python's
        # environment, as in an activated virtual environment.
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
    }
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def run_python(
    args: list[str], cwd: pathlib.Path, timeout: float = 900
) -> subprocess.CompletedProcess:
    return run([sys.executable, *args], cwd=cwd, timeout=timeout)


def describe(result: subprocess.CompletedProcess) -> str:
    """The end of a run's output, for an assertion message."""
    out, err = result.stdout[-3000:], result.stderr[-3000:]
    return f"exit {result.returncode}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"


@functools.cache
def snippets_config() -> dict:
    config = load_config(str(REPO / "mkdocs.yml"))
    options = dict(config["mdx_configs"]["pymdownx.snippets"])
    # base_path is relative to the folder mkdocs runs in: the repository's root.
    options["base_path"] = [str(REPO / p) for p in options.get("base_path", ["."])]
    return options


@functools.cache
def expanded(page: pathlib.Path) -> str:
    """The page's Markdown with every snippet included, as MkDocs renders it."""
    md = markdown.Markdown(
        extensions=["pymdownx.snippets"],
        extension_configs={"pymdownx.snippets": snippets_config()},
    )
    lines = page.read_text(encoding="utf-8").split("\n")
    return "\n".join(md.preprocessors["snippet"].run(lines))


def language(block) -> str:
    words = block.syntax.strip().split()
    return words[0].lstrip("{.").lower() if words else ""


def fences(text: str):
    """Each backtick-fenced block of a Markdown text: (language, its lines' range)."""
    start = None
    lines = text.split("\n")
    for number, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            if start is None:
                start, info = number, line.strip().removeprefix("```").split()
            else:
                yield (info[0].lstrip("{.").lower() if info else ""), (start, number)
                start = None


def page_blocks(page: pathlib.Path, languages: set[str]) -> list:
    """The page's code blocks in `languages` as the reader sees them, each joined to the
    blocks that continue it (`<!--pytest-codeblocks:cont-->`), by pytest-codeblocks.

    Its extractor joins a continued block to the block before it whatever that block's
    language, so a program shown in parts around a command or its printed output would lose
    its later parts to them. So the blocks in other languages are hidden from it (fenced with
    tildes, which it does not read), with the pytest comments that precede them."""
    lines = expanded(page).split("\n")
    after_previous = 0
    for kind, (start, end) in fences(expanded(page)):
        before = [lines[n].strip() for n in range(after_previous, start)]
        expected_output = any("pytest-codeblocks:expected-output" in line for line in before)
        if kind not in languages and not expected_output:  # a block's output stays visible
            for number in (start, end):
                lines[number] = lines[number].replace("```", "~~~", 1)
            for number in range(after_previous, start):
                if lines[number].strip().startswith(("<!--pytest", "<!-- pytest")):
                    lines[number] = ""
        after_previous = end + 1
    return list(pytest_codeblocks.extract_from_buffer(io.StringIO("\n".join(lines))))


# --- The test set read once, at the end (examples that hold out a validation set) ---------
EPOCH_KEYS = {"epoch", "train_loss", "validation_loss", "validation_accuracy", "train_seconds"}


def check_validation_per_epoch_and_test_once(results: dict, images: int = 4_000) -> None:
    """One training image in twelve held out; each epoch's row holds training and validation
    figures only; the test figures appear once, for the final network."""
    assert results["validation_images"] == round(images / 12), f"the subset's {images:,}"
    assert results["train_images"] + results["validation_images"] == images
    for row in results["history"]:
        assert set(row) == EPOCH_KEYS
    assert [key for key in results if key.startswith("test_")] == [
        "test_images",
        "test_loss",
        "test_accuracy",
    ]


def evaluations_of_main(example, monkeypatch, train_set, test_set, epochs=2):
    """The example's main() on stand-ins for MNIST, with its evaluate watched: what main
    returned, and for each call of evaluate, "test" or "other" (the validation set)."""
    read = []
    evaluate = example.evaluate

    def watched(net, images, labels, batch_size=5000):
        read.append("test" if images is test_set[0] else "other")
        return evaluate(net, images, labels, batch_size)

    monkeypatch.setattr(example, "EPOCHS", epochs)
    monkeypatch.setattr(example, "load_mnist", lambda device="cpu": [train_set, test_set])
    monkeypatch.setattr(example, "evaluate", watched)
    return example.main(), read


# --- The recorded runs (docs/notebooks/), whose figures the pages quote --------------------
def recorded_results(name: str) -> dict:
    """The `results` of the recorded run of `name` ('ch07/cnn'), on the full MNIST."""
    path = REPO / "docs" / "notebooks" / f"{name}.ipynb"
    return json.loads(path.read_text(encoding="utf-8"))["metadata"]["recorded_run"]["results"]
