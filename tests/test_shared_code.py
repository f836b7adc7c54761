"""The helpers that several examples carry, each a copy of one canonical text.

Every example can be copied and run on its own, so the few helpers the examples share are
repeated in each file that needs them instead of imported from one. SHARED below is the one
place that names them: for each shared helper, the file that holds its canonical text, the
files that carry a copy of it, and the files that define something of the same name on
purpose otherwise, with the reason. The tests hold every copy equal to the canonical text,
to the letter: docstring, comments and decorators included. REPEATED_SECTIONS names the
snippet sections that are the same code in several examples, so that a page may show one of
them once and another page the same section collapsed, as code already explained.

To change a shared helper, change it in its canonical file, then paste the same text over
every copy. To give a new example a shared helper, paste the canonical text and add the file
to the helper's copies here; an example that defines a registered name without being listed
fails the tests.
"""

import ast
import dataclasses
import difflib
import pathlib
import re

import pytest

from examples.record import example_files
from tests.helpers import REPO


@dataclasses.dataclass
class Shared:
    canonical: str  # the file whose text is the helper's
    copies: list[str]  # files that carry that text, to the letter
    different: dict[str, str] = dataclasses.field(default_factory=dict)  # file: why


def ch07(*names: str) -> list[str]:
    return [f"examples/ch07/{name}.py" for name in names]


TRAIN = "examples/ch07/train.py"
CNN_EXERCISES = "examples/ch07/cnn_exercises.py"
MANUSCRIPT = "examples/ch07/mnist_mlp.py"  # The Code: the manuscript's program, corrected
# fmt: off
# The solutions to each page's exercises (examples/ch07/<page>_exercises.py), found by name,
# and those of them that read MNIST (the Transformer's take attention apart on random
# tensors): with read_mnist, a short loader whose canonical text is The Code's exercises'.
EXERCISES = sorted(p.relative_to(REPO).as_posix()
                   for p in (REPO / "examples" / "ch07").glob("*_exercises.py"))
MNIST_EXERCISES = [f for f in EXERCISES if not f.endswith("/transformer_exercises.py")]
EXERCISES_CANONICAL = "examples/ch07/mnist_mlp_exercises.py"
# The examples that, like train.py, hold MNIST in memory as normalised tensors.
TENSOR_MNIST = ch07("distributed", "cnn", "rnn", "optimizers", "regularization",
                    "how_networks_learn", "nn_building_blocks", "trained_model", "deployment")
# The examples that hold out a validation set, and choose on it (regularization.py, the first
# page to explain it in full, holds the canonical text).
VALIDATION = ch07("train", "distributed", "optimizers", "cnn", "rnn", "trained_model",
                  "deployment")
# The exercises' solutions that hold out the same validation set as their page.
VALIDATION_EXERCISES = ch07("optimizers_exercises", "regularization_exercises",
                            "train_exercises", "trained_model_exercises")

SHARED = {
    # The data, decoded and normalised once.
    "MEAN":              Shared(TRAIN, TENSOR_MNIST + MNIST_EXERCISES),
    "STD":               Shared(TRAIN, TENSOR_MNIST + MNIST_EXERCISES),
    "read_mnist":        Shared(EXERCISES_CANONICAL,
                                [f for f in MNIST_EXERCISES if f != EXERCISES_CANONICAL]),
    "normalise":         Shared(TRAIN, [f for f in TENSOR_MNIST if not f.endswith("/rnn.py")], {
        "examples/ch07/rnn.py": "keeps each image (28, 28), without a channel: to the LSTM "
                                "an image is a sequence of 28 rows, as its page says",
    }),
    "load_mnist":        Shared(TRAIN, TENSOR_MNIST, {
        MANUSCRIPT: "one split at a time, as a Dataset whose ToTensor() and Normalize() "
                    "transform each image as its DataLoader asks for it",
    }),
    # One line instead of a traceback: MNIST missing or damaged, a file it cannot write.
    "MNIST_FILES":       Shared(TRAIN, [*TENSOR_MNIST, MANUSCRIPT]),
    "mnist_error":       Shared(TRAIN, [*TENSOR_MNIST, MANUSCRIPT]),
    "check_writable":    Shared(TRAIN, [*TENSOR_MNIST, MANUSCRIPT, *ch07("transformer")]),
    # The chapter's network, and its evaluation on a whole data set.
    # The validation set held out of the training images.
    "split_validation":  Shared("examples/ch07/regularization.py",
                                VALIDATION + VALIDATION_EXERCISES),
    "Net":               Shared(TRAIN, ch07("distributed", "optimizers", "trained_model",
                                            "deployment"), {
        MANUSCRIPT: "the manuscript's network, with its code annotations",
        "examples/ch07/how_networks_learn.py": "64 hidden units: every tensor small enough "
                                               "to picture",
        "examples/ch07/nn_building_blocks.py": "comments that explain nn.Module, the page's "
                                               "subject",
        "examples/ch07/regularization.py": "optional dropout and batch normalization, the "
                                           "page's subject",
    }),
    "evaluate":          Shared(TRAIN, ch07("distributed", "cnn", "rnn", "optimizers",
                                            "regularization", "trained_model", "deployment")),
    # The CNN, exported by the Deployment page.
    "ConvNet":           Shared("examples/ch07/cnn.py", ch07("deployment")),
    # The program around the training loop, which distributed.py shares with train.py.
    "CHECKPOINT_FORMAT": Shared(TRAIN, ch07("distributed", "trained_model")),
    "atomic_write":      Shared(TRAIN, ch07("distributed")),
    "load_checkpoint":   Shared(TRAIN, ch07("distributed")),
    "save_epoch":        Shared(TRAIN, ch07("distributed")),
    "Parser":            Shared(TRAIN, ch07("distributed", "transformer", "trained_model",
                                            "deployment")),
    "positive":          Shared(TRAIN, ch07("distributed", "transformer", "trained_model")),
    "make_optimizer":    Shared(TRAIN, ch07("distributed")),
    # The pages' own functions that their exercises' solutions use as they are.
    "forward":           Shared("examples/ch07/how_networks_learn.py",
                                ch07("how_networks_learn_exercises")),
    "softmax":           Shared("examples/ch07/how_networks_learn.py",
                                ch07("how_networks_learn_exercises")),
    "cross_entropy":     Shared("examples/ch07/how_networks_learn.py",
                                ch07("how_networks_learn_exercises")),
    "backward":          Shared("examples/ch07/how_networks_learn.py",
                                ch07("how_networks_learn_exercises")),
    "sgd_step":          Shared("examples/ch07/how_networks_learn.py",
                                ch07("how_networks_learn_exercises")),
    "sequential_net":    Shared("examples/ch07/nn_building_blocks.py",
                                ch07("nn_building_blocks_exercises")),
    "gradient_norms":    Shared("examples/ch07/nn_building_blocks.py",
                                ch07("nn_building_blocks_exercises"), {
        "examples/ch07/trained_model.py": "every parameter's gradient norm over a run of "
                                          "steps, for its checklist's zero_grad bug",
    }),
    "OPTIMIZERS":        Shared("examples/ch07/optimizers.py", ch07("optimizers_exercises")),
    "batches":           Shared("examples/ch07/trained_model.py", ch07("trained_model_exercises")),
    # The Deployment exercises train the CNN as the CNN page's exercises do, to the letter;
    # the other solutions have helpers of the same names for their own page's network.
    "make_net":          Shared(CNN_EXERCISES, ch07("deployment_exercises"),
                                dict.fromkeys(ch07("distributed_exercises", "mnist_mlp_exercises",
                                                   "optimizers_exercises",
                                                   "regularization_exercises",
                                                   "trained_model_exercises"),
                                              "its page's own network")),
    "fit":               Shared(CNN_EXERCISES, ch07("deployment_exercises"),
                                dict.fromkeys(ch07("distributed_exercises", "mnist_mlp_exercises",
                                                   "nn_building_blocks_exercises",
                                                   "optimizers_exercises",
                                                   "regularization_exercises", "rnn_exercises",
                                                   "trained_model_exercises"),
                                              "its page's own recipe")),
    "predict":           Shared(CNN_EXERCISES, ch07("deployment_exercises"), {
        MANUSCRIPT: "the manuscript's program, on a DataLoader",
        "examples/ch07/trained_model.py": "the probabilities of raw images, its page's subject",
    }),
    "accuracy":          Shared(CNN_EXERCISES, ch07("deployment_exercises"),
                                dict.fromkeys(ch07("distributed_exercises",
                                                   "how_networks_learn_exercises",
                                                   "mnist_mlp_exercises",
                                                   "nn_building_blocks_exercises",
                                                   "rnn_exercises", "trained_model_exercises"),
                                              "its page's own network and data")),
    "area_matrix":       Shared("examples/ch07/deployment.py", ch07("deployment_exercises")),
    "prepare":           Shared("examples/ch07/deployment.py", ch07("deployment_exercises")),
    "centre_of_mass":    Shared("examples/ch07/deployment.py", ch07("deployment_exercises")),
}

# Named snippet sections (`# --8<-- [start:name]`) that a page may show once and another page
# repeat, collapsed, as the same code: the section's text is the same in every file listed.
REPEATED_SECTIONS = {
    "network":     (TRAIN, ch07("distributed", "optimizers")),
    "data":        (TRAIN, ch07("distributed", "cnn", "optimizers", "regularization",
                                "how_networks_learn", "nn_building_blocks", "trained_model",
                                "deployment")),
    "validation":  ("examples/ch07/regularization.py", VALIDATION),
    "errors":      (TRAIN, [*TENSOR_MNIST, MANUSCRIPT]),
    "evaluate":    (TRAIN, ch07("distributed", "cnn", "rnn", "optimizers", "regularization",
                                "trained_model", "deployment")),
    "checkpoint":  (TRAIN, ch07("distributed")),
    "shared_args": (TRAIN, ch07("distributed")),
}
# fmt: on


def definitions(path: pathlib.Path) -> dict[str, list[str]]:
    """Every name the file defines at its top level (def, class or assignment), with the
    text of each definition: its whole lines, from its first decorator to its last line."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found: dict[str, list[str]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names = [node.name]
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        else:
            continue
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        text = "\n".join(lines[first - 1 : node.end_lineno])
        for name in names:
            found.setdefault(name, []).append(text)
    return found


def texts(file: str, name: str) -> list[str]:
    return definitions(REPO / file).get(name, [])


def difference(canonical: str, copy: str, file: str) -> str:
    diff = difflib.unified_diff(
        canonical.splitlines(), copy.splitlines(), "canonical", file, lineterm="", n=1
    )
    return "\n".join(list(diff)[:30])


@pytest.mark.parametrize("name", SHARED)
def test_every_copy_is_the_canonical_text(name):
    shared = SHARED[name]
    canonical = texts(shared.canonical, name)
    assert len(canonical) == 1, f"{shared.canonical} should define {name} once"
    failures = []
    for file in shared.copies:
        for text in texts(file, name) or [None]:
            if text is None:
                failures.append(f"{file} does not define {name}, yet is listed as a copy")
            elif text != canonical[0]:
                failures.append(
                    f"{file}: {name} is not the canonical text of {shared.canonical}; change "
                    f"the canonical one and paste it over every copy (tests/test_shared_code.py "
                    f"lists them)\n{difference(canonical[0], text, file)}"
                )
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", SHARED)
def test_no_unlisted_example_defines_a_shared_name(name):
    shared = SHARED[name]
    listed = {shared.canonical, *shared.copies, *shared.different}
    unlisted = [
        str(path.relative_to(REPO))
        for path in example_files()
        if name in definitions(path) and str(path.relative_to(REPO)) not in listed
    ]
    assert not unlisted, (
        f"{', '.join(unlisted)} defines {name}, a helper shared with {shared.canonical}: paste "
        f"its canonical text and list the file as a copy in tests/test_shared_code.py, or list "
        f"it there as different, with the reason"
    )


@pytest.mark.parametrize("name", [name for name in SHARED if SHARED[name].different])
def test_deliberate_differences_are_real(name):
    shared = SHARED[name]
    canonical = texts(shared.canonical, name)
    for file in shared.different:
        own = texts(file, name)
        assert own, f"{file} no longer defines {name}: remove it from the helper's differences"
        assert canonical[0] not in own, (
            f"{file}: {name} is now the canonical text: list the file as a copy instead"
        )


def section(file: str, name: str) -> str | None:
    """The lines of a named snippet section as a page shows them: without marker lines."""
    marker = re.compile(r"^\s*# --8<-- \[(start|end):([\w-]+)\]\s*$")
    lines, inside, found = [], False, False
    for line in (REPO / file).read_text(encoding="utf-8").splitlines():
        match = marker.match(line)
        if match and match[2] == name:
            inside, found = match[1] == "start", True
        elif inside and not match:
            lines.append(line)
    return "\n".join(lines) if found else None


@pytest.mark.parametrize("name", REPEATED_SECTIONS)
def test_repeated_sections_are_the_same_code(name):
    canonical, copies = REPEATED_SECTIONS[name]
    text = section(canonical, name)
    assert text, f"{canonical} has no section {name}"
    for file in copies:
        copy = section(file, name)
        assert copy is not None, f"{file} has no section {name}"
        assert copy == text, (
            f"{file}: section {name} differs from {canonical}'s, which a page may show in "
            f"its place\n{difference(text, copy, file)}"
        )
