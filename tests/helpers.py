"""What the tests share: where things are, a reader's working folder, and running Python."""

import os
import pathlib
import shutil
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
MNIST_SUBSET = REPO / "tests" / "data" / "MNIST" / "raw"
# Where nothing listens: every download attempt fails at once instead of reaching the
# internet, so no test ever downloads, on any machine.
NO_NETWORK = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
              "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}


def reader_folder(path: pathlib.Path, with_data: bool = True) -> pathlib.Path:
    """A folder laid out as a reader's: ./data/MNIST/raw holds the tests' MNIST subset, and
    the examples' own data files (examples/ch*/<example>_*.txt) sit beside the code a reader
    copied, as they do in the repository."""
    path.mkdir(parents=True, exist_ok=True)
    if with_data:
        shutil.copytree(MNIST_SUBSET, path / "data" / "MNIST" / "raw")
        for text in (REPO / "examples").glob("ch*/*.txt"):
            shutil.copy(text, path / text.name)
    return path


def run(args: list[str], cwd: pathlib.Path, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run a command as a reader would, with the repository importable and no network."""
    env = {**os.environ, **NO_NETWORK, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg",
           # The commands a page shows (python, torchrun) are those of this Python's
           # environment, as in an activated virtual environment.
           "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def run_python(args: list[str], cwd: pathlib.Path, timeout: float = 900) -> subprocess.CompletedProcess:
    return run([sys.executable, *args], cwd=cwd, timeout=timeout)


def describe(result: subprocess.CompletedProcess) -> str:
    """The end of a run's output, for an assertion message."""
    return f"exit {result.returncode}\n--- stdout ---\n{result.stdout[-3000:]}\n--- stderr ---\n{result.stderr[-3000:]}"
