"""Every file in examples/ runs on its own, to the end: as `python -m examples.<...>`, as a
reader runs it from the repository, and as a notebook, cell by cell (the exercises' solutions,
which run the same statements either way, once, in the tests' process)."""

import ast
import importlib

import jupytext
import pytest

from tests.conftest import EXAMPLES, QUICK, by_example, example_name, module_name
from tests.helpers import describe

# The exercises' solutions (examples/ch07/<page>_exercises.py) have no flags, no __main__
# branch and no __file__: run as a module, a file executes the same statements, in the same
# order, as a notebook run does cell by cell (checked below), so that one run proves both:
# as a module, in the tests' process (tests/conftest.py: solutions_run). The recorder runs
# each as a notebook, on the full MNIST, and tests/test_notebooks.py holds its cells equal.
PROGRAMS = [p for p in EXAMPLES if not p.stem.endswith("_exercises")]
SOLUTIONS = [p for p in EXAMPLES if p.stem.endswith("_exercises")]


@pytest.mark.parametrize("path", SOLUTIONS, ids=example_name)
def test_exercises_run_as_a_module_exactly_as_in_their_notebook(path):
    """Nothing in the file depends on how it is run: no `if __name__`, no command line, no
    `__file__`; its cells are its whole text, so the notebook runs every statement."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert "__name__" not in names and "__file__" not in names, path.name
    assert "argv" not in attributes and "argparse" not in source, path.name
    cells = "\n".join(c.source for c in jupytext.read(path).cells if c.cell_type == "code")
    assert ast.dump(ast.parse(cells)) == ast.dump(tree), "a statement outside the cells"


@pytest.mark.parametrize("module", [by_example(example_name(p), module_name(p)) for p in PROGRAMS])
def test_example_runs_as_a_module(module, module_run):
    result = module_run(module)
    assert result.returncode == 0, describe(result)
    assert "Traceback" not in result.stderr, describe(result)


@pytest.mark.parametrize("name", [by_example(example_name(p), example_name(p)) for p in SOLUTIONS])
def test_exercises_run_to_the_end(name, solutions_run):
    run = solutions_run(name)  # fails the test with the error, if one is raised
    assert run.results, "each solution leaves what it found in `results`"


@pytest.mark.parametrize("name", [by_example(example_name(p), example_name(p)) for p in PROGRAMS])
def test_example_runs_as_a_notebook(name, notebook_run):
    run = notebook_run(name)  # fails the test with the cell's error, if one fails
    assert isinstance(run.results, dict), "the example should leave a `results` dictionary"
    assert run.results, "and the dictionary should hold what the example measured"


@pytest.mark.parametrize("name", [by_example(name, name) for name in QUICK])
def test_a_brief_run_sets_its_length_as_a_reader_would(name, module_run, notebook_run):
    """An example too long for the tests' subset takes its length as a reader can change it:
    a flag for the program, and papermill's convention for the notebook, a cell tagged
    injected-parameters after the example's cell tagged parameters, which keeps the full
    run's value. Both runs use the brief length."""
    flags, code = QUICK[name]
    variable, value = (part.strip() for part in code.split("="))
    module = importlib.import_module("examples." + name.replace("/", "."))
    run = notebook_run(name)
    tags = [cell.metadata.get("tags", []) for cell in run.notebook.cells]
    position = tags.index(["parameters"])
    assert tags[position + 1] == ["injected-parameters"]
    assert run.notebook.cells[position + 1].source == code
    full = f"{variable} = {getattr(module, variable)}"
    assert run.notebook.cells[position].source.splitlines()[-1] == full
    assert int(value) < getattr(module, variable)
    assert run.results["steps"] == int(value) and flags == ["--steps", value]
    assert module_run(module.__name__).returncode == 0
