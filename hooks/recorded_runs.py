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

3. When the book names its GitHub repository (`repo_url` in mkdocs.yml, from BOOK_REPO_URL),
   each notebook page, and each chapter page whose example has a notebook, links to that
   notebook opened in Google Colab from the repository. Without a repository, no such link.

4. The Pages workflow zips the book built for reading from disk and names the zip in
   BOOK_OFFLINE_ZIP: the hosted build then publishes it and the front page links to it. That
   build (BOOK_OFFLINE=true) loads iframe-worker's shim, which search needs from file://,
   from the copy in docs/assets/javascripts/ instead of a CDN.
"""

import functools
import json
import logging
import os
import pathlib
import posixpath
import re
import sys
import urllib.parse

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

REPO = pathlib.Path(__file__).resolve().parents[1]
# The rule for an example's data files is examples/record.py's, which the recorder and the
# tests use too. MkDocs loads a hook from its path, so the book's root may not be importable.
sys.path.insert(0, str(REPO))
# The repository and branch the Colab links read from: the recorder's rule, used for the
# notebooks' data files too.
from examples.record import BRANCH, data_files, github_repository  # noqa: E402

NOTEBOOKS = REPO / "docs" / "notebooks"
log = logging.getLogger(f"mkdocs.hooks.{__name__}")
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
            # Inside an indented block (a collapsed solution, say) every line of
            # it keeps the placeholder's indentation.
            line = match.string[: match.start()].rpartition("\n")[2]
            if not line.strip():
                found = found.replace("\n", "\n" + line)
        return format(found, match["spec"] or "")

    return PLACEHOLDER.sub(value, markdown)


def on_pre_build(config):
    recorded_run.cache_clear()  # `mkdocs serve` rebuilds in one process: re-read new recordings


# The book for reading from disk, which the Pages workflow builds and zips first: the hosted
# build publishes the zip that BOOK_OFFLINE_ZIP names here, and the front page links to it
# where it holds OFFLINE_MARK. Without BOOK_OFFLINE_ZIP (a local build), no zip and no link.
OFFLINE_ZIP = "downloads/neural-networks-using-pytorch-offline.zip"
OFFLINE_MARK = "<!-- the offline book -->"


# Search from file:// runs its worker through iframe-worker's shim, which Material's offline
# plugin loads from a CDN (unpkg): the offline book loads the copy kept in docs/ instead.
SHIM = "assets/javascripts/iframe-worker-shim.js"


def offline_zip() -> pathlib.Path | None:
    path = os.environ.get("BOOK_OFFLINE_ZIP")
    if path and not pathlib.Path(path).is_file():
        raise PluginError(f"BOOK_OFFLINE_ZIP={path}: no such file")
    return pathlib.Path(path) if path else None


def offline_link(markdown: str) -> str:
    """The front page's link to the offline book, or nothing where there is none."""
    path = offline_zip()
    link = (
        f"**[Download the whole book]({OFFLINE_ZIP})** "
        f"({path.stat().st_size / 1e6:.1f} MB) to read it without a network: unzip it and "
        "open `index.html` in the folder it makes. Search works there too."
        if path
        else ""
    )
    return markdown.replace(OFFLINE_MARK, link)


# Where a chapter page offers its exercises' solutions as a notebook: the downloads, and
# Colab's link when the repository is known.
EXERCISES_MARK = "<!-- the exercises' notebook -->"


def exercises_links(markdown: str, src_uri: str, config) -> str:
    if EXERCISES_MARK not in markdown:
        return markdown
    notebook = posixpath.join("notebooks", src_uri.removesuffix(".md") + "_exercises.ipynb")
    if not (REPO / "docs" / notebook).is_file():
        raise PluginError(f"{EXERCISES_MARK} but no {notebook}: record its exercises")
    here = posixpath.dirname(src_uri)
    links = [
        f"[{posixpath.basename(target)}]({posixpath.relpath(target, here)})"
        for target in downloads(notebook)
    ]
    url = colab_url(config.repo_url, posixpath.join(docs_in_repository(config), notebook))
    if url:
        links.append(f"[open it in Colab]({url})")
    text = "The solutions, as a notebook with the recorded run's output: " + " · ".join(links)
    return markdown.replace(EXERCISES_MARK, text)


def on_page_markdown(markdown, page, config, files):
    try:
        if page.file.src_uri == "index.md":
            markdown = offline_link(markdown)
        markdown = exercises_links(markdown, page.file.src_uri, config)
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
    zipped = offline_zip()
    if zipped:
        files.append(File.generated(config, OFFLINE_ZIP, abs_src_path=str(zipped)))
    return files


# Colab opens a notebook stored on GitHub at this address, for any public repository.
COLAB = "https://colab.research.google.com/github/{repository}/blob/{branch}/{path}"


def colab_url(repo_url: str | None, path: str) -> str | None:
    """Colab's address of the notebook at `path` in the repository, or None without one."""
    repository = github_repository(repo_url)
    if repository is None:
        return None
    return COLAB.format(repository=repository, branch=BRANCH, path=urllib.parse.quote(path))


def uses_accelerator(example: pathlib.Path) -> bool:
    """Whether the example moves its work to a GPU when there is one (its device is chosen
    with torch.accelerator, or torch.cuda); two of them stay on the CPU on purpose."""
    source = example.read_text(encoding="utf-8")
    return "torch.accelerator.is_available()" in source or "torch.cuda.is_available()" in source


def colab_paragraph(url: str, notebook_uri: str, lead: str, text: str) -> str:
    """'<lead> <a href=url>text</a>, ...': the link to the notebook notebooks/<chapter>/<x>.ipynb
    in Colab, and what a reader needs there (and, if its example uses one, a GPU)."""
    chapter, name = pathlib.PurePosixPath(notebook_uri).parts[-2:]
    example = REPO / "examples" / chapter / name.replace(".ipynb", ".py")
    gpu = (
        "; for a GPU, choose one under Runtime › Change runtime type"
        if example.is_file() and uses_accelerator(example)
        else ""
    )
    return (
        f'<p class="notebook-colab">{lead} <a href="{url}">{text}</a>, Google\'s hosted '
        f"notebooks (a Google account is needed{gpu}).</p>"
    )


def on_config(config):
    if config.repo_url and github_repository(config.repo_url) is None:
        log.info(f"no 'Open in Colab' links: repo_url {config.repo_url} is not on GitHub")
    polyfills = config.extra.get("polyfills", [])  # the offline plugin's, run before this
    config.extra["polyfills"] = [SHIM if "iframe-worker" in url else url for url in polyfills]
    return config


def docs_in_repository(config) -> str:
    """docs_dir as a path in the repository, the folder that holds mkdocs.yml: 'docs'."""
    root = pathlib.Path(config.config_file_path).resolve().parent
    return pathlib.Path(config.docs_dir).resolve().relative_to(root).as_posix()


# A figure the notebook shows, as mkdocs-jupyter renders it: the PNG inline.
OUTPUT_FIGURE = re.compile(r'<img (?P<before>[^>]*?)src="(?P<src>data:image/png;base64,[^"]*)"')


def with_dark_twins(html: str, figures: list[str]) -> str:
    """Each figure the notebook shows (the recorder saved them as `figures`, in the same
    order) for the light scheme only, followed by its dark twin, NAME-dark.png beside the
    notebook, for the dark scheme, loaded only when shown: as the chapter pages show them."""
    found = OUTPUT_FIGURE.findall(html)
    if len(found) != len(figures):
        raise PluginError(f"{len(found)} figures shown, {len(figures)} recorded: re-record")
    names = iter(figures)

    def pair(match):
        dark = pathlib.PurePosixPath(next(names))
        dark = dark.with_stem(dark.stem + "-dark").name
        return (
            f'<img {match["before"]}src="{dark}#only-dark" loading="lazy">'
            f'<img {match["before"]}src="{match["src"]}#only-light"'
        )

    return OUTPUT_FIGURE.sub(pair, html)


def on_page_content(html, page, config, files):
    src_uri = page.file.src_uri
    if src_uri.endswith(".ipynb"):
        # Out of the search index: the section's page shows the same code and outputs, and
        # search would find each twice.
        page.meta["search"] = {"exclude": True}
        run = src_uri.removeprefix("notebooks/").removesuffix(".ipynb")
        html = with_dark_twins(html, recorded_run(run).get("figures", []))
        here = posixpath.dirname(page.file.dest_uri)
        links = " · ".join(
            f'<a href="{posixpath.relpath(target, here)}" download>{posixpath.basename(target)}</a>'
            for target in downloads(src_uri)
        )
        parts = [f'<p class="notebook-downloads">Download this notebook: {links}</p>', html]
        url = colab_url(config.repo_url, posixpath.join(docs_in_repository(config), src_uri))
        if url:  # after the downloads, apart: the browser tests fetch every download
            parts.insert(
                1, colab_paragraph(url, src_uri, "Run this notebook yourself:", "open it in Colab")
            )
        return "\n".join(parts)
    # A chapter page, <chapter>/<example>.md, whose example has a recorded notebook: the same
    # link, under the page's title.
    notebook = posixpath.join("notebooks", src_uri.removesuffix(".md") + ".ipynb")
    url = colab_url(config.repo_url, posixpath.join(docs_in_repository(config), notebook))
    if url is None or files.get_file_from_path(notebook) is None:
        return html
    colab = colab_paragraph(
        url, notebook, "Run this page's program yourself:", "open its notebook in Colab"
    )
    title_end = html.find("</h1>")
    at = title_end + len("</h1>") if title_end >= 0 else 0
    return f"{html[:at]}\n{colab}\n{html[at:]}"
