"""Every file in examples/ runs on its own, to the end, as `python -m examples.<...>`."""

import pytest

from tests.conftest import EXAMPLES, module_name
from tests.helpers import describe


@pytest.mark.parametrize("module", [module_name(p) for p in EXAMPLES])
def test_example_runs_to_completion(module, example_run):
    result = example_run(module)
    assert result.returncode == 0, describe(result)
    assert "Traceback" not in result.stderr, describe(result)
