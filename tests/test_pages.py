"""Every page's code blocks, as the reader sees them, run; and the site builds strictly.

A page's Markdown holds `--8<--` snippet lines, not code. The reader sees them expanded, so the
tests expand each page with pymdownx.snippets itself, configured exactly as in mkdocs.yml, and
hand the result to pytest-codeblocks' extractor, which joins a block to the ones that continue
it (`<!--pytest-codeblocks:cont-->`) into one program.

A program is proven to run in one of two ways, never both:
- when its statements are the example's own, in the same order (the whole file, or its
  beginning: the page leaves out the notebook's plotting cells, say), the example's module
  run proves it: the same statements ran, in the same order, before anything else did (for
  the exercises' solutions, which run once, their run in the tests' process). The test
  compares the two programs' syntax trees, which ignore only comments and layout;
- otherwise it is saved to a file and run with `python`, as a reader who pressed the copy
  button would.
A shell block runs in a copy of the repository; a line of it that is exactly an example's
`python -m examples.<...>` is that example's module run. A block for several machines
(torchrun's `--nnodes` above 1) is run by tests/ch07/test_distributed.py, every machine's
command at once, on this machine. Everything runs in a folder whose ./data holds the tests'
MNIST subset.
"""

import ast
import json
import pathlib
import re
import shutil

import pytest

from tests.conftest import EXAMPLES, module_name
from tests.helpers import (
    PAGES,
    PYTHON,
    REPO,
    SHELL,
    describe,
    expanded,
    fences,
    language,
    page_blocks,
    reader_folder,
    run,
    run_python,
)

MODULES = {module_name(p): p for p in EXAMPLES}
MODULE_COMMAND = re.compile(r"python -m (examples(?:\.\w+)+)")


def statements(code: str) -> list[str]:
    return [ast.dump(node) for node in ast.parse(code).body]


def example_of(page: pathlib.Path) -> pathlib.Path | None:
    """The example a chapter page explains: docs/ch07/cnn.md -> examples/ch07/cnn.py."""
    path = REPO / "examples" / page.parent.name / f"{page.stem}.py"
    return path if path in EXAMPLES else None


def exercises_of(page: pathlib.Path) -> pathlib.Path | None:
    """The solutions to the page's exercises: examples/ch07/cnn_exercises.py."""
    path = REPO / "examples" / page.parent.name / f"{page.stem}_exercises.py"
    return path if path in EXAMPLES else None


def opening_of_example(page: pathlib.Path, code: str) -> str | None:
    """The module of the page's example, or of its exercises' solutions, if `code` is its
    statements, or their beginning, in order."""
    shown = statements(code)
    for example in (example_of(page), exercises_of(page)):
        if example is None or not shown:
            continue
        whole = statements(example.read_text(encoding="utf-8"))
        if whole[: len(shown)] == shown:
            return module_name(example)
    return None


def group_of(page: pathlib.Path, block) -> str | None:
    """The example whose runs this block shares: the page's own (or its exercises'), or the
    one it runs."""
    if language(block) in PYTHON and example_of(page):
        module = opening_of_example(page, block.code) or module_name(example_of(page))
        return module.removeprefix("examples.").replace(".", "/")
    module = MODULE_COMMAND.search(block.code)
    if module and module[1] in MODULES:
        path = MODULES[module[1]]
        return f"{path.parent.name}/{path.stem}"
    return None


# A command for several machines (torchrun's --nnodes above 1) waits until every machine has
# joined: run as a script, one command after another, it would never end.
SEVERAL_NODES = re.compile(r"--nnodes[ =](\d+)")


def on_several_machines(block) -> bool:
    """A shell block whose commands start a job on several machines: not run here, but by
    tests/ch07/test_distributed.py, which starts each machine's command at once, on this
    machine."""
    nodes = SEVERAL_NODES.findall(block.code) if language(block) in SHELL else []
    return any(int(n) > 1 for n in nodes)


def blocks():
    for page in PAGES:
        programs = page_blocks(page, PYTHON) + page_blocks(page, SHELL)
        for number, block in enumerate(sorted(programs, key=lambda b: b.lineno), 1):
            if on_several_machines(block):
                continue
            marks = [eval(mark, {"pytest": pytest}) for mark in block.marks]
            marks.append(pytest.mark.slow)
            if group := group_of(page, block):
                marks.append(pytest.mark.xdist_group(group))
            name = f"{page.relative_to(REPO / 'docs')}-block{number}"
            yield pytest.param(page, block, id=name, marks=marks)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO / "docs")))
def test_no_snippet_line_is_left_unexpanded(page):
    # A snippet line with a typo (a trailing space, an unquoted path) is silently shown as
    # text, and the strict build passes. Catch it here.
    leftovers = [line for line in expanded(page).splitlines() if "--8<--" in line]
    assert not leftovers, f"{page.name} shows snippet lines as text: {leftovers}"


# Lines after which a module run in the reader's folder would not be the same run.
CHANGES_THE_SHELL = re.compile(r"^\s*(cd|export|source|\.|pushd|set|unset|alias)\b|^\s*\w+=")


def shell_commands(code: str) -> tuple[list[str], list[str]]:
    """The block's lines that run an example as a module, exactly so, and the other lines.
    A block that changes the shell's folder or environment keeps all its lines, in order."""
    if any(CHANGES_THE_SHELL.match(line) for line in code.splitlines()):
        return [], code.splitlines()
    modules, rest, continued = [], [], False
    for line in code.splitlines():
        match = MODULE_COMMAND.fullmatch(line.split("#")[0].strip())
        if not continued and match and match[1] in MODULES:
            modules.append(match[1])
        else:
            rest.append(line)
        continued = line.rstrip().endswith("\\")
    return modules, rest


@pytest.mark.parametrize("page, block", list(blocks()))
def test_code_block_runs(page, block, tmp_path, module_run, solutions_run):
    if language(block) in PYTHON:
        module = opening_of_example(page, block.code)
        if module and module.endswith("_exercises") and block.expected_output is None:
            # The exercises' solutions run once, in the tests' process (tests/conftest.py):
            # the same statements, in the same order. An error fails here.
            solutions_run(module.removeprefix("examples.").replace(".", "/"))
            return
        if module and block.expected_output is None:
            result = module_run(module)  # the same statements, in the same order
        else:
            folder = reader_folder(tmp_path)
            (folder / "block.py").write_text(block.code, encoding="utf-8")
            result = run_python(["block.py"], cwd=folder)
        assert result.returncode == 0, describe(result)
    else:
        modules, rest = shell_commands(block.code)
        for module in modules:
            result = module_run(module)
            assert result.returncode == 0, describe(result)
        if not any(line.strip() and not line.lstrip().startswith("#") for line in rest):
            return
        # Shell blocks show commands to run from the repository's root: give them a copy.
        folder = reader_folder(tmp_path)
        for name in ("pyproject.toml", "README.md", "examples"):
            source = REPO / name
            copy = shutil.copytree if source.is_dir() else shutil.copy
            copy(source, folder / name)
        result = run(["bash", "-e", "-c", "\n".join(rest)], cwd=folder)
        assert result.returncode == 0, describe(result)
    if block.expected_output is not None:
        assert result.stdout == block.expected_output, describe(result)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO / "docs")))
def test_every_python_block_is_part_of_a_program_that_runs(page):
    """No block is lost: each Python block the page shows is in one of its programs."""
    text = expanded(page)
    programs = [b.code for b in page_blocks(page, PYTHON)]
    # Compared line by line, without indentation or blank lines: a block inside a collapsed
    # note is indented, and its blank lines between two included sections may be dropped.
    flat = ["\n".join(line.strip() for line in p.split("\n") if line.strip()) for p in programs]
    lines = text.split("\n")
    for kind, (start, end) in fences(text):
        if kind in PYTHON:
            code = "\n".join(line.strip() for line in lines[start + 1 : end] if line.strip())
            assert any(code in program for program in flat), (
                f"{page.name}: block at line {start + 1}"
            )


def test_a_page_program_is_matched_with_its_example_only_when_it_is_the_same():
    """The shortcut above has teeth: one changed statement, or two swapped, and the page's
    program is no longer taken for the example's."""
    page = REPO / "docs" / "ch07" / "mnist_mlp.md"
    program = page_blocks(page, PYTHON)[0].code
    assert opening_of_example(page, program) == "examples.ch07.mnist_mlp"
    assert opening_of_example(page, program + "\n# a comment changes nothing\n")
    assert opening_of_example(page, "# a comment alone proves nothing\n") is None
    assert shell_commands("python -m examples.ch07.mnist_mlp  # runs it")[0] == [
        "examples.ch07.mnist_mlp"
    ]
    assert shell_commands("cd elsewhere\npython -m examples.ch07.mnist_mlp")[0] == []
    assert opening_of_example(page, program.replace("EPOCHS = 10", "EPOCHS = 9")) is None
    tree = ast.parse(program)
    tree.body[0], tree.body[1] = tree.body[1], tree.body[0]
    assert opening_of_example(page, ast.unparse(tree)) is None


def test_site_builds_strictly(built_site):
    # --strict with MkDocs' link and anchor validation and htmlproofer (mkdocs.yml): a broken
    # link or #anchor anywhere, raw HTML and notebook pages included, fails the build.
    html = {p: p.read_text(encoding="utf-8") for p in built_site.rglob("*.html")}
    assert built_site / "ch07" / "mnist_mlp.html" in html
    unexpanded = [str(p.relative_to(built_site)) for p, text in html.items() if "--8<--" in text]
    assert not unexpanded, f"pages showing snippet lines as text: {unexpanded}"


def test_search_indexes_every_chapter_page_and_no_notebook_page(built_site):
    # hooks/recorded_runs.py keeps the notebook pages out of the index: their section's page
    # shows the same code and outputs, which search would otherwise find twice.
    index = json.loads((built_site / "search" / "search_index.json").read_text(encoding="utf-8"))
    pages = {doc["location"].split("#")[0] for doc in index["docs"]}
    chapter = {p.relative_to(built_site).as_posix() for p in (built_site / "ch07").glob("*.html")}
    assert chapter <= pages
    assert not [p for p in pages if p.startswith("notebooks/")]


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
        inline = text.count('<span class="arithmatex"><span class="katex"><math')
        # displayed: focusable, since a wide one scrolls
        shown = text.count('<div class="arithmatex" tabindex="0"><span class="katex"><math')
        assert inline + shown == formulas, name
        assert 'mathvariant="bold"' not in text, f"{name}: bold that MathML Core would not draw"
        pages_with_math += formulas > 0
    assert pages_with_math >= 2, "the chapter's equations are gone"


def test_published_text_names_no_folder_of_the_books_machines():
    """Pages, notebooks, examples, benchmarks and the README show ./data or a folder the
    reader chooses, never where the book's own machines keep the full MNIST."""
    published = [
        REPO / "README.md",
        *(REPO / "docs").rglob("*.md"),
        *(REPO / "docs").rglob("*.ipynb"),
    ]
    published += [*(REPO / "examples").rglob("*.py"), *(REPO / "benchmarks").rglob("*.*")]
    published += [*(REPO / "tests" / "data").glob("*.*")]
    named = [
        p.relative_to(REPO).as_posix() for p in published if "../shared" in p.read_text("utf-8")
    ]
    assert not named, f"these name ../shared: {named}"
