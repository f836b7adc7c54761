"""The claims of the chapter's program (examples/ch07/mnist_mlp.py) on the MNIST subset.

On the tests' subset (4,000 training and 1,000 test digits) the program reached 90.3 % test
accuracy after 10 epochs, with the mean training loss falling from 1.41 to 0.26 (torch 2.14.1,
2 CPU cores). The thresholds below leave room for other machines and versions.
"""

import re

from tests.helpers import describe, reader_folder, run_python

MODULE = "examples.ch07.mnist_mlp"
EPOCH_LINE = re.compile(
    r"epoch\s+(\d+)\s+train loss ([\d.]+)\s+test loss ([\d.]+)\s+test accuracy ([\d.]+) %"
)


def epochs(stdout):
    return [tuple(float(x) for x in m.groups()) for m in EPOCH_LINE.finditer(stdout)]


def test_trains_ten_epochs_and_learns(example_run):
    result = example_run(MODULE)
    assert result.returncode == 0, describe(result)
    rows = epochs(result.stdout)
    assert [int(r[0]) for r in rows] == list(range(1, 11)), describe(result)
    first, last = rows[0], rows[-1]
    assert last[1] < 0.5 * first[1], "the training loss should at least halve over 10 epochs"
    assert last[2] < first[2], "the test loss should fall"
    assert last[3] >= 85.0, f"test accuracy {last[3]} % is below the 85 % threshold"
    assert "Finished Training" in result.stdout.splitlines()


def test_missing_data_offline_gives_a_clear_message(tmp_path):
    result = run_python(["-m", MODULE], cwd=reader_folder(tmp_path, with_data=False), timeout=300)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, describe(result)
    assert "data/MNIST/raw/" in result.stderr and "Offline?" in result.stderr, describe(result)
