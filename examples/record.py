"""Record the book's runs: each example executed as a notebook, kept in docs/.

    python -m examples.record --data-root ./data               # every example
    python -m examples.record --data-root ./data ch07/mnist_mlp

Each example (a jupytext percent-format script in examples/ch*/) is executed
cell by cell with nbclient, errors not allowed, in a scratch folder whose
./data is --data-root; the MNIST there is used, or downloaded by torchvision
if missing. The executed notebook, with its text and image outputs, is
written to docs/notebooks/<chapter>/<name>.ipynb, with a first cell that
states the run's facts and, in its metadata, those facts and the example's
`results` dictionary. The figures the example saved are copied beside it.
The book's pages take their numbers from there (hooks/recorded_runs.py).
Nothing is written unless the run succeeds.
"""

import argparse
import base64
import datetime
import io
import json
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
# Marks that serve the book's pages, not a notebook's reader: snippet section
# lines and the `# (1)!` code-annotation markers.
SNIPPET_LINE = re.compile(r"^\s*# --8<-- \[(start|end):[\w-]+\]\s*$")
ANNOTATION = re.compile(r"\s*# \(\d+\)!")

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
    """The cells that come from the example's source: all but the facts."""
    return [
        (cell.cell_type, cell.source)
        for cell in notebook.cells
        if FACTS_TAG not in cell.get("metadata", {}).get("tags", [])
    ]


def data_files(example: pathlib.Path) -> list[pathlib.Path]:
    """The files an example reads from its working folder, kept beside it:
    examples/<chapter>/<example>_<anything>, not code (for instance
    examples/ch07/transformer_text.txt). The one rule for them: the recorder
    copies them into the run's folder, the build offers them for download
    beside the notebook (hooks/recorded_runs.py) and the tests put them in
    the reader's folder (tests/helpers.py)."""
    return sorted(
        p
        for p in example.parent.glob(f"{example.stem}_*")
        if p.suffix != ".py"
    )


def execute(example: pathlib.Path, workdir: pathlib.Path):
    """Execute the example as a notebook in workdir; return the notebook and
    the run's facts."""
    # A notebook has no __file__: it finds its data files in its folder.
    for path in data_files(example):
        shutil.copy(path, workdir / path.name)
    notebook = notebook_of(example)
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
    )
    with client.setup_kernel():
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
        o.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for o in cell.get("outputs", [])
        if o.output_type == "stream" and o.name == "stdout"
    )
    return notebook, facts


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
            notebook, facts = execute(example, workdir)
        except CellExecutionError as error:
            name = example.relative_to(REPO)
            sys.exit(f"{name} failed; nothing was recorded.\n{error}")
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
