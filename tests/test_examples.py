"""Every file in examples/ runs on its own, to the end: as `python -m examples.<...>`, as a
reader runs it from the repository, and as a notebook, cell by cell."""

import pytest

from tests.conftest import EXAMPLES, by_example, example_name, module_name
from tests.helpers import describe


@pytest.mark.parametrize("module", [by_example(example_name(p), module_name(p)) for p in EXAMPLES])
def test_example_runs_as_a_module(module, module_run):
    result = module_run(module)
    assert result.returncode == 0, describe(result)
    assert "Traceback" not in result.stderr, describe(result)


@pytest.mark.parametrize("name", [by_example(example_name(p), example_name(p)) for p in EXAMPLES])
def test_example_runs_as_a_notebook(name, notebook_run):
    run = notebook_run(name)  # fails the test with the cell's error, if one fails
    assert isinstance(run.results, dict), "the example should leave a `results` dictionary"
    assert run.results, "and the dictionary should hold what the example measured"
