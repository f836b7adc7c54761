"""Record the book's runs: each example executed as a notebook, kept in docs/.

    python -m examples.record --data-root ./data               # every example
    python -m examples.record --data-root ./data ch07/mnist_mlp

Each example (a jupytext percent-format script in examples/ch*/) is executed
cell by cell with nbclient, errors not allowed, in a scratch folder whose
./data is --data-root; the MNIST there is used, or downloaded by torchvision
if missing. The executed notebook, with its text and image outputs, is
written to docs/notebooks/<chapter>/<name>.ipynb, with a first cell that
states the run's facts and, in its metadata, those facts and the example's
`results` dictionary. The figures the example saved are copied beside it,
each with a twin for dark mode (FIGURES below). The book's pages take their
numbers from there (hooks/recorded_runs.py). Nothing is written unless the
run succeeds.
"""

import argparse
import base64
import datetime
import io
import json
import os
import pathlib
import platform
import re
import shutil
import sys
import tempfile
import time

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO = pathlib.Path(__file__).resolve().parents[1]
RECORDED = REPO / "docs" / "notebooks"
FACTS_TAG = "recorded-run-facts"
# A notebook's first code cell, when its example has data files of its own
# (data_files below) and the book's GitHub repository is known: it fetches
# them from there if they are not beside the notebook (on Colab, say).
FETCH_TAG = "fetch-data-files"
# The book's repository: BOOK_REPO_URL, the variable that sets mkdocs.yml's
# repo_url, "https://github.com/OWNER/REPO" (one rule for the recorder and
# hooks/recorded_runs.py, which links the pages to Colab). The branch the
# notebooks are read from is main, because the Pages workflow publishes the
# site only from main, so the notebook a published page shows is main's. The
# alternatives say less: the build's GITHUB_REF_NAME is "<number>/merge" for
# a pull request, which is no branch, and MkDocs' default edit_uri for a
# GitHub repo_url names "master".
GITHUB_REPOSITORY = re.compile(
    r"https://github\.com/(?P<repository>[\w.-]+/[\w.-]+?)(?:\.git)?/?"
)
BRANCH = "main"


def github_repository(repo_url: str | None) -> str | None:
    """'https://github.com/owner/name' -> 'owner/name'; None if repo_url is
    unset or is not a GitHub repository (Colab opens notebooks from GitHub
    only)."""
    match = GITHUB_REPOSITORY.fullmatch(repo_url or "")
    return match["repository"] if match else None


# Marks that serve the book's pages, not a notebook's reader: snippet section
# lines and the `# (1)!` code-annotation markers.
SNIPPET_LINE = re.compile(r"^\s*# --8<-- \[(start|end):[\w-]+\]\s*$")
SECTION_START = re.compile(
    r"^\s*# --8<-- \[start:([\w-]+)\]\s*$", re.MULTILINE
)
ANNOTATION = re.compile(r"\s*# \(\d+\)!")

# Run in the example's kernel before its first cell: every figure in a palette
# that colour-blind readers tell apart (Okabe and Ito's, the colours that
# keep 3:1 contrast with the page chosen for each scheme), and a twin of each
# saved figure for the book's dark mode. An example draws its figures in
# functions named plot_*, which save them (savefig) from data they are given.
# Each such function is wrapped as the cell defines it: the call
# draws and saves the figure as the example wrote it, in the light style,
# which the notebook shows; then the same function is called again with the
# same arguments in the dark style (Material's dark background and text, the
# palette's lighter colours), saving NAME-dark.png beside NAME.png, and that
# figure is closed unseen. The random number generators are restored after
# the second call, so that it changes nothing the run goes on to compute.
# Images keep their colour maps in both styles: their colours are data. The
# names of the saved figures, in order, go into the run's facts ("figures"):
# the notebook shows the same figures in the same order, and its page shows
# each one's dark twin in dark mode (hooks/recorded_runs.py).
FIGURES = """
import ast as _ast, functools as _functools, io as _io, pathlib as _pathlib
import random as _random
from contextlib import redirect_stdout as _redirect_stdout
import matplotlib.pyplot as _plt, numpy as _np, torch as _torch
from matplotlib.figure import Figure as _Figure

_LIGHT = {"axes.prop_cycle": _plt.cycler(color=[
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"])}
_BACKGROUND, _TEXT, _LINES = "#1e2129", "#d5d8e2", "#8a90a0"
_DARK = {
    "axes.prop_cycle": _plt.cycler(color=[
        "#56B4E9", "#D55E00", "#009E73", "#CC79A7", "#F0E442", "#E69F00"]),
    "figure.facecolor": _BACKGROUND, "axes.facecolor": _BACKGROUND,
    "savefig.facecolor": _BACKGROUND, "savefig.edgecolor": _BACKGROUND,
    "text.color": _TEXT, "axes.labelcolor": _TEXT, "axes.titlecolor": _TEXT,
    "xtick.color": _TEXT, "ytick.color": _TEXT, "axes.edgecolor": _LINES,
    "grid.color": _LINES, "legend.facecolor": _BACKGROUND,
    "legend.edgecolor": _LINES, "legend.labelcolor": _TEXT,
}
_plt.style.use(_LIGHT)


_SAVED = []  # the figures' files, in the order they were saved


def _with_dark_twin(plot):
    @_functools.wraps(plot)
    def plot_both(*args, **kwargs):
        save, show = _Figure.savefig, _plt.show

        def save_light(figure, name, *a, **k):  # noted, in the run's order
            _SAVED.append(_pathlib.Path(name).name)
            save(figure, name, *a, **k)

        _Figure.savefig = save_light
        try:
            value = plot(*args, **kwargs)
        finally:
            _Figure.savefig = save
        states = (_random.getstate(), _np.random.get_state(),
                  _torch.get_rng_state())
        open_before = set(_plt.get_fignums())

        def save_dark(figure, name, *a, **k):
            name = _pathlib.Path(name)
            save(figure, name.with_stem(name.stem + "-dark"), *a, **k)

        _Figure.savefig, _plt.show = save_dark, lambda *a, **k: None
        try:  # drawn again, its printed output (if any) not shown twice
            with _plt.style.context(_DARK), _redirect_stdout(_io.StringIO()):
                plot(*args, **kwargs)
        finally:
            _Figure.savefig, _plt.show = save, show
            for number in set(_plt.get_fignums()) - open_before:
                _plt.close(number)
            _random.setstate(states[0])
            _np.random.set_state(states[1])
            _torch.set_rng_state(states[2])
        return value

    return plot_both


# After each top-level `def plot_x` of a cell: plot_x = _with_dark_twin(plot_x)
# follows, so that the statements after it in the cell call the wrapper.
class _TwinEveryPlot(_ast.NodeTransformer):
    def visit_Module(self, module):
        body = []
        for node in module.body:
            body.append(node)
            name = getattr(node, "name", "")
            if isinstance(node, _ast.FunctionDef) and name.startswith("plot_"):
                body += _ast.parse(f"{name} = _with_dark_twin({name})").body
        module.body = body
        return _ast.fix_missing_locations(module)


get_ipython().ast_transformers.append(_TwinEveryPlot())
"""

# Run in the example's kernel after its last cell: what the run used and what
# it measured.
FACTS_QUERY = """
import json as _json, os as _os, platform as _platform
import torch as _torch, torchvision as _tv
print(_json.dumps({
    "python": _platform.python_version(),
    "torch": _torch.__version__,
    "torchvision": _tv.__version__,
    "threads": _torch.get_num_threads(),
    "cpus": _os.cpu_count(),
    "results": globals().get("results"),
    "figures": globals().get("_SAVED", []),
}, default=float))
"""


def cpu_model() -> str:
    """The processor's model name where Linux tells it ("AMD EPYC"), else
    what the platform module knows ("x86_64", "arm")."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def example_files() -> list[pathlib.Path]:
    return sorted((REPO / "examples").glob("ch*/[!_]*.py"))


def recorded_path(example: pathlib.Path) -> pathlib.Path:
    return RECORDED / example.parent.name / f"{example.stem}.ipynb"


def notebook_of(example: pathlib.Path):
    """The example as a notebook, without the marks only the pages use."""
    notebook = jupytext.read(example)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            lines = [
                ANNOTATION.sub("", line)
                for line in cell.source.split("\n")
                if not SNIPPET_LINE.match(line)
            ]
            cell.source = "\n".join(lines).strip("\n")
    return notebook


def source_cells(notebook) -> list[tuple[str, str]]:
    """The cells that come from the example's source: all but the facts and
    the cell that fetches the data files."""
    return [
        (cell.cell_type, cell.source)
        for cell in notebook.cells
        if not {FACTS_TAG, FETCH_TAG} & set(cell.metadata.get("tags", []))
    ]


def data_files(example: pathlib.Path) -> list[pathlib.Path]:
    """The files an example reads from its working folder, kept beside it:
    examples/<chapter>/<example>_<anything>, not code (for instance
    examples/ch07/transformer_text.txt). The one rule for them: the recorder
    copies them into the run's folder, the build offers them for download
    beside the notebook (hooks/recorded_runs.py) and the tests put them in
    the reader's folder (tests/helpers.py). The solutions to a page's
    exercises, <example>_exercises.py, take those of the example's files that
    they name."""
    stem = example.stem.removesuffix("_exercises")
    files = [p for p in example.parent.glob(f"{stem}_*") if p.suffix != ".py"]
    if stem != example.stem:  # the exercises': only the files they read
        source = example.read_text(encoding="utf-8")
        files = [p for p in files if p.name in source]
    return sorted(files)


def fetch_cell(example: pathlib.Path, repo_url: str | None):
    """A cell that fetches the example's data files from the book's
    repository on GitHub (repo_url) into the notebook's folder, each only if
    it is not there; None if the example has none or repo_url names no
    GitHub repository."""
    repository = github_repository(repo_url)
    files = data_files(example)
    if repository is None or not files:
        return None
    folder = (
        f"https://raw.githubusercontent.com/{repository}/{BRANCH}/"
        f"examples/{example.parent.name}/"
    )
    lines = [
        "# This notebook's data, fetched from the book's repository when it",
        "# is not beside the notebook (on Colab, say).",
        "import os",
        "import urllib.request",
    ]
    for path in files:
        name = json.dumps(path.name)
        lines += [
            "",
            f"if not os.path.exists({name}):",
            "    urllib.request.urlretrieve(",
            f'        "{folder}{path.name}",',
            f"        {name},",
            "    )",
        ]
    return nbformat.v4.new_code_cell(
        "\n".join(lines), metadata={"tags": [FETCH_TAG]}
    )


def execute(
    example: pathlib.Path, workdir: pathlib.Path, repo_url: str | None = None
):
    """Execute the example as a notebook in workdir; return the notebook and
    the run's facts. With repo_url, the book's GitHub repository, a notebook
    whose example has data files fetches them from there when they are
    missing (fetch_cell)."""
    # A notebook has no __file__: it finds its data files in its folder.
    for path in data_files(example):
        shutil.copy(path, workdir / path.name)
    notebook = notebook_of(example)
    # The named sections each code cell starts, read before notebook_of took
    # their marks out: a page shows what a section printed (`outputs` below).
    starts = [
        SECTION_START.findall(cell.source)
        for cell in jupytext.read(example).cells
    ]
    fetch = fetch_cell(example, repo_url)
    if fetch is not None:  # run too, before the first code cell: no download
        first = next(
            i for i, c in enumerate(notebook.cells) if c.cell_type == "code"
        )
        notebook.cells.insert(first, fetch)
        starts.insert(first, [])
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    client = NotebookClient(
        notebook,
        timeout=None,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(workdir)}},
        # The kernel's work is done when the last cell has run: nothing to
        # wait for (a graceful shutdown costs 0.3 s a run, and the tests make
        # one run of each example).
        shutdown_kernel="immediate",
    )
    with client.setup_kernel():
        # Run as a cell of its own, then taken out: nbclient stores each cell
        # it executes at its index in the notebook. Only where there is a
        # figure to draw: it imports matplotlib, which nothing else may need.
        setup = nbformat.v4.new_code_cell(FIGURES)
        if "def plot_" in example.read_text(encoding="utf-8"):
            notebook.cells.append(setup)
            client.execute_cell(setup, len(notebook.cells) - 1)
            notebook.cells.pop()
        if setup.outputs:  # nothing should print: an error in the setup
            sys.exit(f"the figures' setup failed: {setup.outputs}")
        start = time.perf_counter()
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
        wall_seconds = time.perf_counter() - start
        query = nbformat.v4.new_code_cell(FACTS_QUERY)
        notebook.cells.append(query)
        client.execute_cell(query, len(notebook.cells) - 1)
        notebook.cells.pop()
    facts = json.loads(
        "".join(
            o.get("text", "")
            for o in query.outputs
            if o.output_type == "stream"
        )
    )
    facts["wall_seconds"] = wall_seconds
    facts["stdout"] = "".join(
        printed(cell) for cell in notebook.cells if cell.cell_type == "code"
    )
    # What each named section printed, from the cell that starts it: a
    # page quotes it as `{{ ch07/<name> outputs.<section> }}`, beside the
    # section's code (an exercise's solution, say).
    facts["outputs"] = {
        name: printed(cell)
        for cell, names in zip(notebook.cells, starts)
        for name in names
    }
    return notebook, facts


def printed(cell) -> str:
    return "".join(
        o.get("text", "")
        for o in cell.get("outputs", [])
        if o.output_type == "stream" and o.name == "stdout"
    )


def compact_png(data: bytes) -> bytes:
    """The same picture as a PNG of at most 256 colours, if that is smaller.
    Plots and digits need no more: on the book's figures no colour moves by
    more than 11 levels of 255, and the files shrink to about a third, which
    keeps the pages light (benchmarks/page_weight.py)."""
    from PIL import Image  # Pillow comes with matplotlib

    picture = Image.open(io.BytesIO(data)).convert("RGB")
    # MAXCOVERAGE keeps rare colours (a few red mistake labels) that
    # MEDIANCUT merges away.
    palette = picture.quantize(
        colors=256, method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE
    )
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", optimize=True)
    return min(data, buffer.getvalue(), key=len)


def compact_figures(notebook) -> None:
    """Store every image output of the notebook as a compact PNG."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if "image/png" in output.get("data", {}):
                png = base64.b64decode(output["data"]["image/png"])
                output["data"]["image/png"] = base64.b64encode(
                    compact_png(png)
                ).decode("ascii")


def facts_cell(facts: dict):
    results = facts.get("results") or {}
    lines = [
        "**Recorded run.** The outputs below come from one run of this "
        "notebook, made with `python -m examples.record`:",
        "",
        f"- date: {facts['date']}",
        f"- Python {facts['python']}, PyTorch {facts['torch']}, "
        f"torchvision {facts['torchvision']}",
        f"- device: {results.get('device', 'cpu')} "
        f"({facts['processor']}, "
        f"{facts['cpus']} cores, {facts['threads']} PyTorch threads)",
    ]
    if "train_images" in results:
        lines.append(
            f"- data: {results['train_images']:,} training and "
            f"{results['test_images']:,} test images"
        )
    lines.append(
        f"- wall time: {facts['wall_seconds']:.0f} s for the whole notebook"
    )
    return nbformat.v4.new_markdown_cell(
        "\n".join(lines), metadata={"tags": [FACTS_TAG]}
    )


def record(example: pathlib.Path, data_root: pathlib.Path) -> None:
    with tempfile.TemporaryDirectory(prefix="record-") as scratch:
        workdir = pathlib.Path(scratch)
        (workdir / "data").symlink_to(
            data_root.resolve(), target_is_directory=True
        )
        try:
            notebook, facts = execute(
                example, workdir, os.environ.get("BOOK_REPO_URL")
            )
        except CellExecutionError as error:
            name = example.relative_to(REPO)
            sys.exit(f"{name} failed; nothing was recorded.\n{error}")
        shown = [
            output
            for cell in notebook.cells
            for output in cell.get("outputs", [])
            if "image/png" in output.get("data", {})
        ]
        if len(shown) != len(
            facts["figures"]
        ):  # hooks/recorded_runs.py pairs them
            sys.exit(
                f"{example.relative_to(REPO)} showed {len(shown)} figures and "
                f"saved {facts['figures']}: each plot_* function should save "
                f"the one figure it shows"
            )
        facts["date"] = datetime.date.today().isoformat()
        facts["processor"] = cpu_model()  # the kernel ran on this machine
        notebook.cells.insert(1, facts_cell(facts))
        notebook.metadata["recorded_run"] = facts
        compact_figures(notebook)
        target = recorded_path(example)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, target)
        for figure in sorted(workdir.glob("*.png")):
            (target.parent / figure.name).write_bytes(
                compact_png(figure.read_bytes())
            )
        # Files a page reads (the deployment demo's weights, and the script
        # that carries them to the page), named after their example:
        # published beside its notebook and figures.
        for suffix in (".bin", ".js"):
            for data in sorted(workdir.glob(f"{example.stem}_*{suffix}")):
                shutil.copy(data, target.parent / data.name)
    print(
        f"recorded {target.relative_to(REPO)} in {facts['wall_seconds']:.0f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Execute the book's examples as notebooks and store "
        "them under docs/."
    )
    parser.add_argument(
        "examples",
        nargs="*",
        help="e.g. ch07/mnist_mlp (default: every example)",
    )
    parser.add_argument(
        "--data-root",
        type=pathlib.Path,
        default=pathlib.Path("data"),
        help="folder holding MNIST/raw/ (default: ./data; downloaded there "
        "if missing)",
    )
    args = parser.parse_args()
    known = {f"{p.parent.name}/{p.stem}": p for p in example_files()}
    unknown = [name for name in args.examples if name not in known]
    if unknown:
        parser.error(
            f"no such example: {', '.join(unknown)} "
            f"(known: {', '.join(known)})"
        )
    if not args.data_root.is_dir():
        parser.error(f"--data-root {args.data_root} is not a folder")
    for name in args.examples or known:
        record(known[name], args.data_root)


if __name__ == "__main__":
    main()
