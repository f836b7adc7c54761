"""MkDocs hook: the book quotes its recorded runs, and offers every example for download.

1. Numbers in the prose come from the recorded notebooks, never typed by hand. A page writes

       {{ ch07/mnist_mlp results.test_accuracy:.2f }}

   and the build puts in the value at that path of the `recorded_run` metadata of
   docs/notebooks/ch07/mnist_mlp.ipynb (written by `python -m examples.record`), formatted with
   the optional format spec after the colon. Path steps are dictionary keys or list indices
   (`results.history.-1.test_loss`). A name or path that does not exist fails the build.
   `{{ benchmarks/train_speed fast.seconds_per_epoch:.2f }}` reads a benchmark's report,
   benchmarks/results/train_speed.json, in the same way.

2. Each recorded notebook and its example's source are added to the site as downloads,
   downloads/<chapter>/<name>.ipynb and .py, and each notebook page gets links to them.
   Links are relative, so they work when the site is served from a sub-path or opened from
   disk.
"""

import functools
import json
import pathlib
import posixpath
import re
import sys

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

REPO = pathlib.Path(__file__).resolve().parents[1]
# The rule for an example's data files is examples/record.py's, which the recorder and the
# tests use too. MkDocs loads a hook from its path, so the book's root may not be importable.
sys.path.insert(0, str(REPO))
from examples.record import data_files  # noqa: E402

NOTEBOOKS = REPO / "docs" / "notebooks"
PLACEHOLDER = re.compile(
    r"\{\{\s*(?P<run>[\w/]+)\s+(?P<path>[\w.\-]+)(?::(?P<spec>[^}]*?))?\s*\}\}"
)


@functools.cache
def recorded_run(run: str) -> dict:
    if run.startswith("benchmarks/"):  # a benchmark's report: benchmarks/results/<name>.json
        name = run.removeprefix("benchmarks/")
        path = REPO / "benchmarks" / "results" / f"{name}.json"
        if not path.is_file():
            raise PluginError(f"no benchmark report '{run}': run `python benchmarks/{name}.py`")
        return json.loads(path.read_text(encoding="utf-8"))
    path = NOTEBOOKS / f"{run}.ipynb"
    if not path.is_file():
        raise PluginError(
            f"no recorded run '{run}': {path.relative_to(REPO)} is missing; "
            f"run `python -m examples.record {run}`"
        )
    return json.loads(path.read_text(encoding="utf-8"))["metadata"]["recorded_run"]


def lookup(run: str, path: str):
    value = recorded_run(run)
    for step in path.split("."):
        try:
            value = value[int(step)] if isinstance(value, list) else value[step]
        except (KeyError, IndexError, ValueError, TypeError):
            raise PluginError(
                f"the recorded run '{run}' has no '{path}' (failed at '{step}')"
            ) from None
    return value


def fill(markdown: str) -> str:
    def value(match):
        found = lookup(match["run"], match["path"])
        if isinstance(found, str):
            # Printed output ends with a newline; the page's fence adds its own.
            found = found.rstrip("\n")
        return format(found, match["spec"] or "")

    return PLACEHOLDER.sub(value, markdown)


def on_pre_build(config):
    recorded_run.cache_clear()  # `mkdocs serve` rebuilds in one process: re-read new recordings


def on_page_markdown(markdown, page, config, files):
    try:
        return fill(markdown)
    except PluginError as error:
        raise PluginError(f"{page.file.src_uri}: {error}") from None


def downloads(notebook_uri: str) -> dict[str, pathlib.Path]:
    """notebooks/ch07/x.ipynb -> its download files and where their content comes from."""
    chapter, name = pathlib.PurePosixPath(notebook_uri).parts[-2:]
    stem = name.removesuffix(".ipynb")
    examples = REPO / "examples" / chapter
    found = {
        f"downloads/{chapter}/{stem}.ipynb": NOTEBOOKS / chapter / name,
        f"downloads/{chapter}/{stem}.py": examples / f"{stem}.py",
    }
    for data in data_files(examples / f"{stem}.py"):  # the example's own, go with it
        found[f"downloads/{chapter}/{data.name}"] = data
    return found


@event_priority(100)  # before the plugins' on_files, so that htmlproofer knows the downloads
def on_files(files, config):
    for notebook in sorted(NOTEBOOKS.rglob("*.ipynb")):
        uri = notebook.relative_to(REPO / "docs").as_posix()
        for target, source in downloads(uri).items():
            # Given as content, not as a path: a path under notebooks/ would make
            # mkdocs-jupyter take the download for one more notebook page.
            files.append(File.generated(config, target, content=source.read_bytes()))
    return files


def on_page_content(html, page, config, files):
    if not page.file.src_uri.endswith(".ipynb"):
        return html
    here = posixpath.dirname(page.file.dest_uri)
    links = " · ".join(
        f'<a href="{posixpath.relpath(target, here)}" download>{posixpath.basename(target)}</a>'
        for target in downloads(page.file.src_uri)
    )
    return f'<p class="notebook-downloads">Download this notebook: {links}</p>\n{html}'
