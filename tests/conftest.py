import os
import pathlib
import subprocess
import sys

import pytest

# Examples whose training does not shrink with the data (a language model on a fixed text,
# say) read this to train for fewer steps; every process the tests start inherits it.
# MNIST examples need no such switch: the tests' subset makes them short.
os.environ["BOOK_QUICK_RUN"] = "1"

from examples.record import example_files
from tests.helpers import REPO, describe, reader_folder, run_python

# Every example of every chapter: examples/ch*/*.py (examples/record.py is the book's tool).
EXAMPLES = example_files()


def module_name(path: pathlib.Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


@pytest.fixture(scope="session")
def example_run(tmp_path_factory):
    """Run an example once per test session (`python -m examples...` in a reader's folder
    holding the MNIST subset) and hand the same result to every test that asks for it."""
    results = {}

    def run_example(module: str):
        if module not in results:
            folder = reader_folder(tmp_path_factory.mktemp(module.replace(".", "_")))
            results[module] = run_python(["-m", module], cwd=folder)
        return results[module]

    return run_example


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """The book built once with `mkdocs build --strict`: the folder, or the failed build."""
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, describe(result)
    return site
