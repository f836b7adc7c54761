"""Every figure of the book in both colour schemes.

`python -m examples.record` saves each figure an example draws twice, from the same data in
the same run: NAME.png in the light style and NAME-dark.png in the dark one (examples/record.py,
FIGURES). A page shows the pair with Material's `#only-light` and `#only-dark` suffixes, so
that each scheme shows its own. The notebooks keep the light one, and their pages add the
dark twin of each (hooks/recorded_runs.py). These tests check the pairs in the files;
tests/test_browser.py checks, in Chromium, that no figure a dark page shows is drawn on a
white background.
"""

import base64
import io
import re

import nbformat
import pytest
from PIL import Image

from tests.helpers import PAGES, REPO

FIGURES = REPO / "docs" / "notebooks"
LIGHT = sorted(p for p in FIGURES.rglob("*.png") if not p.stem.endswith("-dark"))
# ![alt](path.png#only-light) on a page, and the image that follows it.
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+?)\)(\{[^}]*\})?", re.DOTALL)
# Material's page backgrounds: white, and its dark scheme's ("slate") grey-blue.
WHITE, SLATE = (255, 255, 255), (30, 33, 41)


def background(picture: Image.Image) -> tuple[int, int, int]:
    """The colour of the figure's border: its four corners, which must agree."""
    picture = picture.convert("RGB")
    width, height = picture.size
    corners = {picture.getpixel(xy) for xy in [(0, 0), (width - 1, 0), (0, height - 1),
                                                (width - 1, height - 1)]}  # fmt: skip
    assert len(corners) == 1, corners
    return corners.pop()


def near(colour, target, tolerance=12):
    return all(abs(a - b) <= tolerance for a, b in zip(colour, target))


def test_every_figure_has_a_dark_twin_of_the_same_size():
    assert LIGHT, "no figures recorded"
    for light in LIGHT:
        dark = light.with_stem(light.stem + "-dark")
        assert dark.is_file(), f"{light.name} has no dark twin: re-record its example"
        light_picture, dark_picture = Image.open(light), Image.open(dark)
        assert light_picture.size == dark_picture.size, light.name
        assert near(background(light_picture), WHITE), light.name
        assert near(background(dark_picture), SLATE), dark.name


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO / "docs").as_posix())
def test_a_page_shows_each_figure_in_each_scheme(page):
    """Each recorded figure on a page comes as a pair: the light one for the light scheme,
    followed by its dark twin for the dark one, loaded only when shown (lazily)."""
    images = [(path, attributes or "") for path, attributes in IMAGE.findall(page.read_text())]
    figures = [(path, attrs) for path, attrs in images if "notebooks/" in path]
    for (light, _), (dark, attributes) in zip(figures[::2], figures[1::2]):
        assert light.endswith(".png#only-light"), light
        assert dark == light.replace(".png#only-light", "-dark.png#only-dark"), (light, dark)
        assert "loading=lazy" in attributes, dark
    assert len(figures) % 2 == 0, figures


def test_the_notebooks_keep_the_light_figures_and_name_them_in_order():
    """The notebook shows the light figures; its recorded run names the files they were
    saved as, one per figure shown, in order, from which its page shows the dark twins."""
    for path in sorted(FIGURES.rglob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        shown = [
            output["data"]["image/png"]
            for cell in notebook.cells
            for output in cell.get("outputs", [])
            if "image/png" in output.get("data", {})
        ]
        saved = notebook.metadata["recorded_run"].get("figures", [])
        assert len(saved) == len(shown), path.name
        for data, name in zip(shown, saved):
            picture = Image.open(io.BytesIO(base64.b64decode(data)))
            assert near(background(picture), WHITE), path.name
            assert (path.parent / name).is_file(), name
