"""What every test shares: one run of each example, the built site, and how the suite is split.

Each example is run twice per test session, never more: once as a module
(`python -m examples.ch07.<name>`) and once as a notebook (cell by cell, with nbclient, as
`python -m examples.record` does); QUICK below makes both brief where the data cannot. The
notebook run hands its `results` dictionary, its printed output and the files it wrote to
every test that checks a claim, and a page whose code is the example's (or the beginning of
it) is proven by the module run instead of being run again. See README.md, "Testing".

The suite runs on two pytest-xdist workers (pyproject.toml). The tests of one example form
one group, run by one worker, so that its two runs happen once; the tests that need the
built site form another. Each worker, and every process it starts, uses one thread, so the
two never fight over the machine's two cores.
"""

import contextlib
import dataclasses
import io
import json
import os
import pathlib
import runpy
import subprocess
import sys

import filelock
import jupytext
import nbformat
import pytest

if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    # One thread per worker and per process it starts: two workers share two cores. The
    # tests' figures are thresholds with room for any thread count.
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"

from examples import record  # noqa: E402
from tests.helpers import REPO, describe, reader_folder, run_python  # noqa: E402

# Every example of every chapter: examples/ch*/*.py (examples/record.py is the book's tool).
EXAMPLES = record.example_files()

# Examples whose training does not shrink with the data (a language model on a fixed text;
# the trained-model checklist's runs of a fixed number of steps) train briefly in the tests,
# set as a reader could set them: as a module, by arguments on the command line; as a
# notebook, by a cell that the run inserts after the example's cell tagged "parameters", as
# papermill does. The other MNIST examples need neither: the tests' subset makes them short.
QUICK = {
    "ch07/transformer": (["--steps", "60"], "STEPS = 60"),
    "ch07/trained_model": (["--steps", "60"], "STEPS = 60"),
}


def example_name(path: pathlib.Path) -> str:
    """examples/ch07/cnn.py -> 'ch07/cnn': the example's name in groups, runs and test ids."""
    return f"{path.parent.name}/{path.stem}"


def module_name(path: pathlib.Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


def by_example(name: str, *values):
    """A pytest.param for `name`'s tests: grouped with the example's other tests, and slow."""
    return pytest.param(*values, id=name, marks=[pytest.mark.xdist_group(name), pytest.mark.slow])


@dataclasses.dataclass
class NotebookRun:
    """One run of an example as a notebook, on the tests' MNIST subset."""

    results: dict  # the example's `results`, as JSON would give them back
    stdout: str  # what its cells printed
    folder: pathlib.Path  # where it ran: the files it wrote are there
    notebook: object  # the executed notebook (nbformat)


@pytest.fixture(scope="session")
def module_run(tmp_path_factory):
    """`python -m examples.<...>` in a reader's folder, once per example and session."""
    runs = {}

    def run(module: str) -> subprocess.CompletedProcess:
        if module not in runs:
            folder = reader_folder(tmp_path_factory.mktemp(module.replace(".", "_")))
            arguments, _ = QUICK.get(module.removeprefix("examples.").replace(".", "/"), ([], ""))
            runs[module] = run_python(["-m", module, *arguments], cwd=folder)
        return runs[module]

    return run


@pytest.fixture(scope="session")
def notebook_run(tmp_path_factory):
    """The example executed as a notebook in a reader's folder, once per example and
    session; a cell's error fails every test that asks for the run."""
    runs = {}

    def run(name: str) -> NotebookRun:
        if name not in runs:
            example = REPO / "examples" / f"{name}.py"
            folder = reader_folder(tmp_path_factory.mktemp(name.replace("/", "_") + "_notebook"))
            if name in QUICK:
                quick = tmp_path_factory.mktemp(name.replace("/", "_") + "_quick")
                example = with_quick_parameters(example, QUICK[name][1], quick)
            try:
                notebook, facts = record.execute(example, folder)
            except Exception as error:  # the cell's error and traceback, once per test
                runs[name] = error
            else:
                runs[name] = NotebookRun(facts["results"], facts["stdout"], folder, notebook)
        if isinstance(runs[name], Exception):
            pytest.fail(f"{name} failed as a notebook:\n{runs[name]}", pytrace=False)
        return runs[name]

    return run


@pytest.fixture(scope="session")
def solutions_run(tmp_path_factory):
    """The solutions to a page's exercises (examples/<chapter>/<page>_exercises.py), run once
    per session as `python -m` runs them (runpy, as __main__), in this process, in a reader's
    folder: the same statements a notebook run executes (tests/test_examples.py checks that
    nothing in the file depends on how it is run), without starting a Python, a kernel and
    PyTorch again for each of them (about 4.5 s a file). Its `results` come back as JSON
    would give them, as the notebook run's do; an error fails every test that asks."""
    runs = {}

    def run(name: str) -> NotebookRun:
        if name not in runs:
            folder = reader_folder(tmp_path_factory.mktemp(name.replace("/", "_") + "_run"))
            printed, here = io.StringIO(), os.getcwd()
            os.chdir(folder)
            try:
                with contextlib.redirect_stdout(printed):
                    namespace = runpy.run_module(
                        "examples." + name.replace("/", "."), run_name="__main__"
                    )
                results = json.loads(json.dumps(namespace["results"], default=float))
                runs[name] = NotebookRun(results, printed.getvalue(), folder, None)
            except BaseException as error:  # SystemExit too: a reader's one-line error
                runs[name] = error
            finally:
                os.chdir(here)
        if isinstance(runs[name], BaseException):
            pytest.fail(f"{name} failed: {runs[name]!r}", pytrace=False)
        return runs[name]

    return run


def with_quick_parameters(example: pathlib.Path, code: str, folder: pathlib.Path) -> pathlib.Path:
    """The example as a notebook in folder, with `code` in a cell after its cell tagged
    "parameters", tagged "injected-parameters" as papermill tags the cell it inserts."""
    notebook = jupytext.read(example)
    tagged = [i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{example.name} should have one cell tagged parameters"
    cell = nbformat.v4.new_code_cell(code, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(tagged[0] + 1, cell)
    path = folder / f"{example.stem}.ipynb"
    jupytext.write(notebook, path)
    return path


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """The book built once with `mkdocs build --strict`: the folder, or the failed build.
    Both workers share one build: the first to ask builds it while the other waits."""
    return shared_build(tmp_path_factory, "site")


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, once per worker, for every browser test (tests/test_browser.py and
    the Deployment page's demo): Playwright's sync API allows one instance per process."""
    from playwright.sync_api import sync_playwright

    from tests.browser import launch

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def offline_site(tmp_path_factory):
    """The book built for reading from disk: Material's offline plugin switched on. Built
    once, like `built_site`, for the tests of tests/test_browser.py and of the Deployment
    page's demo (tests/ch07/test_deployment_demo.py), whichever worker runs them."""
    return shared_build(tmp_path_factory, "offline", {"BOOK_OFFLINE": "true"})


def shared_build(tmp_path_factory, name: str, settings: dict | None = None) -> pathlib.Path:
    """`build_site` once per session into a folder `name` that every worker sees: the first
    worker to ask builds it while the others wait."""
    if "PYTEST_XDIST_WORKER" not in os.environ:  # no workers: this process is the only one
        return build_site(tmp_path_factory.mktemp(name), settings)
    shared = tmp_path_factory.getbasetemp().parent  # the same folder for every worker
    with filelock.FileLock(shared / f"{name}.lock"):
        if not (shared / name / "index.html").is_file():
            build_site(shared / name, settings)
    return shared / name


def build_site(site: pathlib.Path, settings: dict | None = None) -> pathlib.Path:
    """`mkdocs build --strict` into `site`, with environment `settings` (mkdocs.yml's !ENV)."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", **(settings or {})}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, describe(result)
    return site


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """Group and mark the tests that the parametrizations above do not: a chapter's claim
    tests (tests/ch07/test_<example>.py) go with their example's runs, tests that ask for a
    run are slow."""
    names = {example_name(p) for p in EXAMPLES}
    for item in items:
        chapter_test = f"{item.path.parent.name}/{item.path.stem.removeprefix('test_')}"
        if chapter_test in names and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(chapter_test))
        if {"module_run", "notebook_run", "solutions_run"} & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)

    # The print page in a browser first: the whole chapter, the longest single test. Then
    # the examples' groups, each a long unit of work; then the tests in a browser (the pages,
    # one a test, and the Deployment page's demo); then the short tests. Either worker takes
    # the next unit as it is free, so the short ones fill what the long ones leave.
    def order(item):
        grouped = item.get_closest_marker("xdist_group") is not None
        browser = "browser" in item.fixturenames
        return ("print_page" not in item.name, not grouped, not browser)

    items.sort(key=order)
