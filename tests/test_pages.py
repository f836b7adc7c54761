"""Every page's code blocks, as the reader sees them, run; and the site builds strictly.

A page's Markdown holds `--8<--` snippet lines, not code. The reader sees them expanded, so the
tests expand each page with pymdownx.snippets itself, configured exactly as in mkdocs.yml, and
hand the result to pytest-codeblocks' extractor. Each Python block is saved to a file and run
with `python`, as a reader who pressed the copy button would; each shell block runs in a copy
of the repository. Both run in a folder whose ./data holds the tests' MNIST subset.
"""

import functools
import io
import pathlib
import shutil

import markdown
import pytest
import pytest_codeblocks
from mkdocs.config import load_config

from tests.helpers import REPO, describe, reader_folder, run, run_python

PAGES = sorted((REPO / "docs").rglob("*.md"))
PYTHON = {"python", "py", "python3"}
SHELL = {"bash", "sh", "shell", "console"}


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
    md = markdown.Markdown(extensions=["pymdownx.snippets"],
                           extension_configs={"pymdownx.snippets": snippets_config()})
    lines = page.read_text(encoding="utf-8").split("\n")
    return "\n".join(md.preprocessors["snippet"].run(lines))


def language(block) -> str:
    words = block.syntax.strip().split()
    return words[0].lstrip("{.").lower() if words else ""


def blocks():
    for page in PAGES:
        for number, block in enumerate(pytest_codeblocks.extract_from_buffer(io.StringIO(expanded(page))), 1):
            if language(block) in PYTHON | SHELL:
                marks = [eval(mark, {"pytest": pytest}) for mark in block.marks]
                yield pytest.param(page, block, id=f"{page.relative_to(REPO / 'docs')}-block{number}", marks=marks)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO / "docs")))
def test_no_snippet_line_is_left_unexpanded(page):
    # A snippet line with a typo (a trailing space, an unquoted path) is silently shown as
    # text, and the strict build passes. Catch it here.
    leftovers = [line for line in expanded(page).splitlines() if "--8<--" in line]
    assert not leftovers, f"{page.name} shows snippet lines as text: {leftovers}"


@pytest.mark.parametrize("page, block", list(blocks()))
def test_code_block_runs(page, block, tmp_path):
    folder = reader_folder(tmp_path)
    if language(block) in PYTHON:
        (folder / "block.py").write_text(block.code, encoding="utf-8")
        result = run_python(["block.py"], cwd=folder)
    else:
        # Shell blocks show commands to run from the repository's root: give them a copy of it.
        for name in ("pyproject.toml", "README.md", "examples"):
            source = REPO / name
            copy = shutil.copytree if source.is_dir() else shutil.copy
            copy(source, folder / name)
        result = run(["bash", "-e", "-c", block.code], cwd=folder)
    assert result.returncode == 0, describe(result)
    if block.expected_output is not None:
        assert result.stdout == block.expected_output, describe(result)


def test_site_builds_strictly(built_site):
    # --strict with MkDocs' link and anchor validation and htmlproofer (mkdocs.yml): a broken
    # link or #anchor anywhere, raw HTML and notebook pages included, fails the build.
    html = {p: p.read_text(encoding="utf-8") for p in built_site.rglob("*.html")}
    assert built_site / "ch07" / "mnist_mlp.html" in html
    unexpanded = [str(p.relative_to(built_site)) for p, text in html.items() if "--8<--" in text]
    assert not unexpanded, f"pages showing snippet lines as text: {unexpanded}"


def test_math_is_typeset_into_mathml_when_the_site_is_built(built_site):
    # hooks/render_math.py replaces every formula's TeX with KaTeX's MathML, so no page
    # loads anything for its math: no script, no style sheet, no font.
    pages_with_math = 0
    for path in built_site.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(built_site).as_posix()
        assert 'class="arithmatex">\\' not in text, f"{name}: a formula left as TeX"
        assert "katex.min" not in text and "KaTeX_" not in text, f"{name} loads KaTeX's files"
        formulas = text.count('class="arithmatex"')
        assert text.count('class="arithmatex"><span class="katex"><math') == formulas, name
        assert 'mathvariant="bold"' not in text, f"{name}: bold that MathML Core would not draw"
        pages_with_math += formulas > 0
    assert pages_with_math >= 2, "the chapter's equations are gone"

