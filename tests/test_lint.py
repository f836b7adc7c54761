"""ruff's lint and format check over the book's code, with the settings in pyproject.toml
(and examples/ruff.toml, which keeps the code the pages show within 79 columns)."""

import subprocess
import sys

import pytest

from tests.helpers import REPO

CODE = ["examples", "hooks", "tests", "benchmarks"]


@pytest.mark.parametrize(
    "command", [["check"], ["format", "--check", "--diff"]], ids=["lint", "format"]
)
def test_ruff(command):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, *CODE], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, f"ruff {' '.join(command)}:\n{result.stdout}{result.stderr}"
