"""The "Open in Colab" links (hooks/recorded_runs.py), and the recorded notebooks as Colab runs
them: from the book's GitHub repository, with nothing of a checkout around them.

The links come from `repo_url` in mkdocs.yml, which the Pages workflow sets through
BOOK_REPO_URL; a build without it, as on a reader's machine, has none.
"""

import ast
import html.parser
import json
import os
import pathlib
import re

import pytest

from hooks import recorded_runs
from tests.conftest import build_site
from tests.helpers import REPO

NOTEBOOKS = sorted((REPO / "docs" / "notebooks").rglob("*.ipynb"))
# The notebooks that are pages; the exercises' solutions are downloads, linked from the end
# of their section's page.
PAGE_NOTEBOOKS = [n for n in NOTEBOOKS if not n.stem.endswith("_exercises")]
FAKE_REPOSITORY = "https://github.com/example/book"
COLAB = "https://colab.research.google.com/"


class Links(html.parser.HTMLParser):
    """The href of every <a> of a page, and the text of each <p class="notebook-colab">."""

    def __init__(self, page: str):
        super().__init__()
        self.hrefs, self.colab_paragraphs, self._in_colab = [], [], False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if tag == "p" and "notebook-colab" in (attrs.get("class") or "").split():
            self._in_colab = True
            self.colab_paragraphs.append("")

    def handle_endtag(self, tag):
        if tag == "p":
            self._in_colab = False

    def handle_data(self, data):
        if self._in_colab:
            self.colab_paragraphs[-1] += data


def links_of(site: pathlib.Path) -> dict[str, Links]:
    return {
        p.relative_to(site).as_posix(): Links(p.read_text("utf-8")) for p in site.rglob("*.html")
    }


def test_the_repository_is_read_from_a_github_address_and_nothing_else():
    for url in [FAKE_REPOSITORY, f"{FAKE_REPOSITORY}/", f"{FAKE_REPOSITORY}.git"]:
        assert recorded_runs.github_repository(url) == "example/book", url
    assert recorded_runs.github_repository("https://github.com/my-org/book.v2") == "my-org/book.v2"
    for url in [
        None,
        "",
        "https://gitlab.com/example/book",  # Colab opens notebooks from GitHub only
        "https://github.com/example",
        f"{FAKE_REPOSITORY}/tree/main",
        "http://github.com/example/book",
    ]:
        assert recorded_runs.github_repository(url) is None, url
        assert recorded_runs.colab_url(url, "docs/notebooks/ch07/cnn.ipynb") is None, url
    assert recorded_runs.colab_url(FAKE_REPOSITORY, "docs/notebooks/ch07/cnn.ipynb") == (
        "https://colab.research.google.com/github/example/book/blob/main/docs/notebooks/ch07/cnn.ipynb"
    )


def test_only_the_examples_that_use_an_accelerator_suggest_a_gpu():
    examples = REPO / "examples" / "ch07"
    # The manuscript's program and the hand-written gradients run on the CPU on purpose.
    for cpu_only in ("mnist_mlp", "how_networks_learn"):
        assert not recorded_runs.uses_accelerator(examples / f"{cpu_only}.py")
    for name in ("cnn", "transformer", "train", "distributed"):
        assert recorded_runs.uses_accelerator(examples / f"{name}.py"), name


def test_with_a_repository_each_notebook_and_its_chapter_page_link_to_it_in_colab(
    tmp_path, monkeypatch
):
    """A strict build with BOOK_REPO_URL set, as the Pages workflow makes it (htmlproofer
    passes: it does not fetch external addresses)."""
    monkeypatch.setenv("BOOK_REPO_URL", FAKE_REPOSITORY)
    pages = links_of(build_site(tmp_path / "site"))

    def colab_of(notebook):  # docs/notebooks/ch07/x.ipynb in the repository
        in_repository = notebook.relative_to(REPO).as_posix()
        return f"https://colab.research.google.com/github/example/book/blob/main/{in_repository}"

    expected = {colab_of(n) for n in NOTEBOOKS}
    for notebook in PAGE_NOTEBOOKS:
        colab = colab_of(notebook)
        chapter, name = notebook.parent.name, notebook.stem
        # The chapter page also links to its exercises' notebook, at their end.
        exercises = [colab_of(e) for e in NOTEBOOKS if e.stem == f"{name}_exercises"]
        for page, links_expected in [
            (f"notebooks/{chapter}/{name}.html", [colab]),
            (f"{chapter}/{name}.html", [colab, *exercises]),
        ]:
            links = pages[page]
            assert [h for h in links.hrefs if h.startswith(COLAB)] == links_expected, page
            assert len(links.colab_paragraphs) == 1, page
            gpu = recorded_runs.uses_accelerator(REPO / "examples" / chapter / f"{name}.py")
            assert ("GPU" in links.colab_paragraphs[0]) == gpu, page
    linked = {h for links in pages.values() for h in links.hrefs if h.startswith(COLAB)}
    assert linked == expected
    # Only the notebook pages and their chapter pages: not the front page, the chapter's
    # opening, the references or the print page (print-site copies the pages before the hook).
    with_links = {p for p, links in pages.items() if links.colab_paragraphs}
    assert with_links == {
        f"{prefix}{n.parent.name}/{n.stem}.html"
        for n in PAGE_NOTEBOOKS
        for prefix in ("notebooks/", "")
    }


def test_without_a_repository_no_page_links_to_colab(built_site):
    if os.environ.get("BOOK_REPO_URL"):
        pytest.skip(
            "BOOK_REPO_URL is set, so the shared build has Colab links; the test above checks them"
        )
    for page, links in links_of(built_site).items():
        assert not [h for h in links.hrefs if "colab" in h], page
        assert not links.colab_paragraphs, page


# --- The notebooks as Colab runs them ----------------------------------------------------

# The top folders of the book's repository that a reader's copy of a notebook does not have.
CHECKOUT_FOLDERS = {"docs", "tests", "examples", "hooks", "benchmarks", "site", ".cache"}


def checkout_path(text: str) -> bool:
    """Whether a string names a path that exists only in a checkout of the book: in one of
    its folders, above the notebook's folder, or absolute. Prose (any space) and URLs are
    not paths; "./data" is the reader's own folder."""
    if not text or re.search(r"\s", text) or "://" in text:
        return False
    parts = [p for p in re.split(r"[\\/]", text) if p not in ("", ".")]
    absolute = re.match(r"(/|~/|[A-Za-z]:[\\/])[^\\/]+[\\/]", text) is not None
    return absolute or ".." in parts or (bool(parts) and parts[0] in CHECKOUT_FOLDERS)


def strings_in(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def test_the_checkout_path_rule_on_examples():
    for path in ["tests/data", "./tests/data/MNIST", "docs/notebooks/ch07", "examples", "../x",
                 "data/../../y", "/home/reader/data", "~/book/data", "C:\\book\\data"]:  # fmt: skip
        assert checkout_path(path), path
    for text in ["./data", "data", "transformer_text.txt", "mnist_train.pt", "/", "/s", "",
                 "https://raw.githubusercontent.com/o/r/main/examples/ch07/x.txt",
                 "copy it from examples/ch07/ of the book's repository"]:  # fmt: skip
        assert not checkout_path(text), text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_recorded_notebook_names_no_path_that_only_a_checkout_has(path):
    """Its code's strings, and the metadata a run reads: the notebook's (its kernel; the
    recorded run's facts are the build's, not the run's) and its cells' (their tags)."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    strings = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            for node in ast.walk(ast.parse("".join(cell["source"]))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    strings.append((f"cell {index}", node.value))
        strings += [(f"cell {index}'s metadata", s) for s in strings_in(cell.get("metadata", {}))]
    metadata = {k: v for k, v in notebook["metadata"].items() if k != "recorded_run"}
    strings += [("the notebook's metadata", s) for s in strings_in(metadata)]
    assert any(where.startswith("cell") for where, _ in strings), "no code was read"
    found = [f"{where}: {text!r}" for where, text in strings if checkout_path(text)]
    assert not found, f"{path.relative_to(REPO)} needs a checkout of the book: {found}"
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"  # Colab's Python kernel


def test_a_notebook_with_data_files_fetches_them_from_the_repository_only_when_missing(
    tmp_path, monkeypatch
):
    """The recorder's first code cell for the Transformer (examples/record.py: fetch_cell),
    run as Colab runs it, in a folder without the text; the download is the repository's
    own file, served from the checkout (the tests download nothing)."""
    import shutil
    import urllib.request

    from examples import record

    example = REPO / "examples" / "ch07" / "transformer.py"
    cell = record.fetch_cell(example, FAKE_REPOSITORY)
    assert record.fetch_cell(example, None) is None  # no repository: the file must be there
    assert record.fetch_cell(REPO / "examples" / "ch07" / "cnn.py", FAKE_REPOSITORY) is None
    raw = f"https://raw.githubusercontent.com/example/book/{recorded_runs.BRANCH}/"
    fetched = []

    def urlretrieve(url, filename):
        fetched.append(url)
        shutil.copy(REPO / url.removeprefix(raw), filename)

    monkeypatch.setattr(urllib.request, "urlretrieve", urlretrieve)
    monkeypatch.chdir(tmp_path)
    exec(cell.source, {})
    assert fetched == [f"{raw}examples/ch07/transformer_text.txt"]
    assert (tmp_path / "transformer_text.txt").read_bytes() == (
        REPO / "examples" / "ch07" / "transformer_text.txt"
    ).read_bytes()
    exec(cell.source, {})  # there now: not fetched again
    assert len(fetched) == 1
    # The recorded notebook keeps it apart from the example's cells (the drift test).
    notebook = record.notebook_of(example)
    with_cell = record.notebook_of(example)
    with_cell.cells.insert(1, cell)
    assert record.source_cells(with_cell) == record.source_cells(notebook)
