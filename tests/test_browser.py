"""The built book in a real browser, used the way a reader uses it.

Playwright for Python drives Debian's chromium (never a browser Playwright downloads) against
the site built by `mkdocs build --strict` and served on 127.0.0.1. Without chromium these tests
are skipped with that reason, except in CI (CI=true), where .ci/run installs it and its
absence is a failure.
"""

import collections
import json
import re

import pytest

from tests.browser import (
    WCAG_21_AA,
    load_everything,
    record_sizes,
    require_chromium,
    served,
    start_demo,
    to_dark,
    weight,
)
from tests.helpers import PYTHON, REPO, page_blocks

pytestmark = pytest.mark.slow
require_chromium()

from axe_playwright_python.sync_playwright import Axe  # noqa: E402

# In the second colour scheme only the rules that depend on colours run again (WCAG_21_AA in
# the first): the rest see the same document.
COLOUR_RULES = {
    "runOnly": {"type": "rule", "values": ["color-contrast", "link-in-text-block"]},
    "resultTypes": ["violations"],
}


@pytest.fixture(scope="session")
def site_url(built_site):
    with served(built_site) as base:
        yield base.rstrip("/")


def pages_of(site):
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))


@pytest.fixture(scope="session")
def all_pages(built_site):
    return pages_of(built_site)


# The pages the build writes: one for each Markdown page and notebook under docs/ (but the
# exercises' solutions, which are downloads: their code and output are on their section's
# page), the print page and the 404 page. Known before the build, so that each is a test of
# its own, which either worker may take (test_the_site_has_the_pages_these_tests_visit keeps
# the list true).
NOTEBOOK_PAGES = [
    p for p in sorted((REPO / "docs").rglob("*.ipynb")) if not p.stem.endswith("_exercises")
]
SOURCES = sorted((REPO / "docs").rglob("*.md")) + NOTEBOOK_PAGES
PAGES = sorted(
    [p.relative_to(REPO / "docs").with_suffix(".html").as_posix() for p in SOURCES]
    + ["404.html", "print_page.html"]
)


def test_the_site_has_the_pages_these_tests_visit(all_pages):
    assert all_pages == PAGES


def visit(browser, url, color_scheme="light", lazy=False):
    """Open url in a fresh browser context (an empty cache): the page, what the console said,
    where requests went and the size of every response. With lazy=True the page is scrolled
    to its end first, so that anything it loads lazily is fetched too."""
    context = browser.new_context(
        color_scheme=color_scheme, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    seen = {"errors": [], "requests": [], "sizes": record_sizes(context)}
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    context.on("request", lambda r: seen["requests"].append(r.url))
    page.goto(url, wait_until="load")
    if lazy:  # scrolled to the end, and no request for half a second
        load_everything(page)
    return context, page, seen


# The print page's own parts: its table of contents and the theme around it. Each chapter
# section in it is a chapter page's HTML under the same style sheet (print-site's own CSS sets
# no colour of text), checked for colour, light and dark, on that page.
PRINT_PAGE_OWN_PARTS = {"exclude": [["section.print-page[id]"]]}
WITHOUT_COLOUR = {rule: {"enabled": False} for rule in COLOUR_RULES["runOnly"]["values"]}


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_offline_without_errors_passes_axe_and_keeps_its_weight(
    browser, site_url, built_site, name
):
    """The page, cold in light, then switched to dark with its toggle as a reader switches
    it: no console error, no request leaving 127.0.0.1, every formula drawn as MathML, no
    WCAG 2.1 A/AA violation that axe finds (the colour rules again in dark), each scheme
    showing its own figures and none drawn on white in dark (tests/test_figures.py checks
    the pairs; a notebook page shows its notebook's figures with their dark twins), and, in
    light, within its weight budget (tests/browser.py: 450 KB for a
    text page, 1 MB for a notebook page, as benchmarks/page_weight.py measures). The print
    page is the whole chapter on one page, over the text budget by its nature; the benchmark
    reports its size and the front page states it; it holds every chapter page's title. A
    notebook page shows its cells, and its download links resolve. A page with the drawing
    demo starts it, after axe, and it reads a test digit."""
    failures = []
    axe = Axe()
    context, page, seen = visit(browser, f"{site_url}/{name}", "light", lazy=True)
    if name.startswith("notebooks/"):
        failures += notebook_rendered(page, name)
    if name == "print_page.html":
        failures += sections_missing(page.locator("article").inner_text(), built_site)
    if name != "print_page.html":
        size, _ = weight(dict(seen["sizes"]), f"{site_url}/", name)
        if not size["within_budget"]:
            failures.append(
                f"{size['bytes'] / 1024:.0f} KB ({size['kind']}), largest {size['largest']}"
            )
    # Every formula is KaTeX's MathML (typeset at build time), drawn by the browser.
    math = page.locator(".arithmatex").count()
    drawn = page.eval_on_selector_all(
        ".arithmatex > .katex > math",
        "all => all.filter(m => m.getBoundingClientRect().width > 0).length",
    )
    if drawn < math:
        failures.append(f"{math} formulas, only {drawn} drawn as MathML")
    # Open the collapsed blocks (??? note), so that axe checks what they hide too. (The
    # print page's are the chapter pages' own, checked open there.)
    if name != "print_page.html":
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    for scheme, rules in (("light", WCAG_21_AA), ("dark", COLOUR_RULES)):
        if scheme == "dark":
            to_dark(page)
        for figure in figures_shown(page):  # each scheme shows its own figures
            white = figure["corner"][:3] == [255, 255, 255]
            if scheme == "dark" and (white or "#only-light" in figure["src"]):
                failures.append(f"dark: a light figure is shown: {figure['src'][:80]}")
            if scheme == "light" and "#only-dark" in figure["src"]:
                failures.append(f"light: a dark figure is shown: {figure['src'][:80]}")
        runs = [(None, rules)]
        if name == "print_page.html":
            # Its own parts under every rule; the whole page, chapter sections included, again
            # under every rule but the colour ones, which include those that depend on how the
            # sections sit together (ids, landmarks, headings). Each section's colours are
            # checked on its own chapter page: over the whole chapter, the colour rules took
            # 26 of the 30 s that axe took here in light.
            runs = [(PRINT_PAGE_OWN_PARTS, rules)]
            if scheme == "light":
                runs.append((None, {**rules, "rules": WITHOUT_COLOUR}))
        for where, options in runs:
            for v in axe.run(page, context=where, options=options).response["violations"]:
                targets = [n["target"] for n in v["nodes"]][:3]
                failures.append(
                    f"{scheme}: axe {v['id']} ({v['impact']}) x{len(v['nodes'])} {targets}"
                )
    if page.locator(".digit-demo__start").count():  # the Deployment page, and the print page
        failures += demo_read_a_test_digit(page)
    leaving = [
        u for u in seen["requests"] if not u.startswith((site_url, "data:", "blob:", "about:"))
    ]
    if seen["errors"]:
        failures.append(f"console errors {seen['errors']}")
    if leaving:
        failures.append(f"requests leaving 127.0.0.1: {leaving}")
    context.close()
    assert not failures, "\n".join(failures)


# The figures a page shows (not those its colour scheme hides), each loaded now if it waits to
# be scrolled to (loading=lazy), and the colour of its top-left pixel: its background.
FIGURES_SHOWN = """async () => {
    const shown = [...document.querySelectorAll("article img")]
        .filter(image => image.getClientRects().length > 0);
    const figures = [];
    for (const image of shown) {
        image.loading = "eager";
        await image.decode();
        const canvas = document.createElement("canvas");
        canvas.width = image.naturalWidth;
        canvas.height = image.naturalHeight;
        const context = canvas.getContext("2d");
        context.drawImage(image, 0, 0);
        figures.push({src: image.getAttribute("src"),
                      corner: [...context.getImageData(0, 0, 1, 1).data]});
    }
    return figures;
}"""


def figures_shown(page):
    return page.evaluate(FIGURES_SHOWN)


def unique_words(built_site):
    """For each page, a word that its text has and no other page's text has."""
    index = json.loads((built_site / "search" / "search_index.json").read_text())
    words = collections.defaultdict(collections.Counter)
    for doc in index["docs"]:
        location = doc["location"].split("#")[0]
        text = re.sub(r"<[^>]+>", " ", doc["title"] + " " + doc["text"])
        # Split as the search does (on white space, punctuation trimmed from both ends), so
        # that "\\partial" in a formula does not count as the word "partial".
        tokens = (token.strip(".,;:!?()[]\"'") for token in text.split())
        words[location].update(t.lower() for t in tokens if re.fullmatch(r"[A-Za-z]{7,}", t))
    pages_with = collections.Counter(w[:6] for counts in words.values() for w in counts)
    chosen = {}
    for location, counts in words.items():
        candidates = [w for w, _ in counts.most_common() if pages_with[w[:6]] == 1]
        if candidates:
            chosen[location] = candidates[0]
    return chosen


def searched(page, site, pages=None):
    """Search, on the open page, for a word that only one chapter page has, for each
    chapter page of the site (or for each of `pages`); what went wrong."""
    chosen = unique_words(site)
    text_pages = [p for p in pages_of(site) if p.startswith("ch07/") and not p.startswith("print")]
    missing = [p for p in text_pages if p not in chosen]
    assert not missing, f"no word of their own to search for: {missing}"
    failures = []
    for location in pages or text_pages:
        word = chosen[location]
        box = page.locator("input.md-search__input")
        box.click()
        box.fill("")
        box.press_sequentially(word, delay=20)  # Material's search listens to key presses
        first = page.locator(".md-search-result__item a").first
        first.wait_for(timeout=10_000)
        href = first.get_attribute("href")
        if not href.split("#")[0].split("?")[0].endswith(location):
            failures.append(f"searching {word!r}: first result {href}, not {location}")
        page.keyboard.press("Escape")
    return failures


def test_the_print_page_links_relative_to_itself(built_site):
    """hooks/plugin_speedups.py, item 5: not from the site's root, as the 404 page does."""
    html = (built_site / "print_page.html").read_text()
    config = json.loads(re.search(r'<script id="__config"[^>]*>(.*?)</script>', html, re.S)[1])
    assert config["base"] == "."
    assert not re.findall(r'(?:href|src)="/(?!/)', html)


def test_search_finds_each_page_by_a_word_only_it_has(browser, site_url, built_site):
    context, page, _ = visit(browser, f"{site_url}/index.html")
    failures = searched(page, built_site)
    context.close()
    assert not failures, "\n".join(failures)


def test_the_offline_book_reads_from_disk_search_included(browser, offline_site, built_site):
    """Opened from file://, as a reader opens the unzipped download: every page and notebook
    page renders (its text, its formulas as MathML) without a console error or a request to
    anywhere; search works there, and finds what it finds on the served site: its index (the
    offline plugin's script) holds the same sections, each under the same title, and a word
    only the first chapter page has, and one only the last has, find them from disk. (The
    served site's search is checked on every chapter page.)"""
    served = json.loads((built_site / "search" / "search_index.json").read_text())["docs"]
    script = (offline_site / "search" / "search_index.js").read_text()
    offline = json.loads(script.removeprefix("var __index = ").rstrip().removesuffix(";"))
    sections = [[(d["location"], d["title"]) for d in index] for index in (served, offline["docs"])]
    assert sections[0] == sections[1], "the offline index holds other sections than the served"
    failures = []
    # Not 404.html: a web server's answer to an address it does not have, which links from
    # the site's root because it is served at any depth. Read from disk, no reader reaches
    # it, and the workflow leaves it out of the zip.
    context, page, seen = visit(browser, (offline_site / "index.html").as_uri())
    for name in [p for p in PAGES if p != "404.html"]:  # one after another, as a reader does
        seen["errors"].clear()
        seen["requests"].clear()
        page.goto((offline_site / name).as_uri(), wait_until="load")
        leaving = [u for u in seen["requests"] if not u.startswith(("file:", "data:", "blob:"))]
        if seen["errors"] or leaving:
            failures.append(f"{name}: console errors {seen['errors']}, requests {leaving}")
        if not page.locator("article").inner_text().strip():
            failures.append(f"{name}: nothing rendered")
        math = page.locator(".arithmatex").count()
        drawn = page.locator(".arithmatex > .katex > math").count()
        if drawn < math:
            failures.append(f"{name}: {math} formulas, {drawn} drawn as MathML")
    context.close()
    context, page, _ = visit(browser, (offline_site / "index.html").as_uri())
    chapter = [p for p in pages_of(offline_site) if p.startswith("ch07/") and "print" not in p]
    failures += searched(page, offline_site, pages=[chapter[0], chapter[-1]])
    context.close()
    assert not failures, "\n".join(failures)


def test_annotations_open_and_the_copy_button_copies_the_program_the_tests_ran(browser, site_url):
    context, page, _ = visit(browser, f"{site_url}/ch07/mnist_mlp.html")
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    block = (
        page.locator("div.annotate, .highlight").filter(has=page.locator(".md-annotation")).first
    )
    first_marker = block.locator(".md-annotation").first
    first_marker.click()
    tooltip = first_marker.locator(".md-tooltip__inner")
    tooltip.wait_for(state="visible", timeout=15_000)
    assert "torchvision" in tooltip.inner_text()
    block.locator("button[data-clipboard-target]").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    context.close()
    assert not re.search(r"#\s*\(\d+\)!?", copied), "annotation markers were copied"
    # The program a reader copies is, line for line, the first part of the page's program,
    # which tests/test_pages.py runs (test_code_block_runs[ch07/mnist_mlp.md-block1]).
    # Material leaves the spaces that stood before an annotation's marker at the line's end.
    program = page_blocks(REPO / "docs/ch07/mnist_mlp.md", PYTHON)[0].code
    shown = [re.sub(r"\s*# \(\d+\)!", "", line) for line in program.splitlines()]
    lines = [line.rstrip() for line in copied.splitlines()]
    assert "class Net(nn.Module):" in lines
    assert lines == shown[: len(lines)]


def test_dark_mode_toggles_and_persists(browser, site_url):
    context, page, _ = visit(browser, f"{site_url}/index.html", "light")

    def scheme():
        return page.evaluate("document.body.getAttribute('data-md-color-scheme')")

    assert scheme() == "default"
    page.locator("label[title='Switch to dark mode']").first.click()
    assert scheme() == "slate"
    page.goto(f"{site_url}/ch07/wizard-of-oz.html", wait_until="networkidle")
    assert scheme() == "slate", "the choice should persist across pages"
    context.close()


def demo_read_a_test_digit(page):
    """A page with the drawing demo: it starts, and reads its first test digit (what it reads
    is checked against PyTorch in tests/ch07/test_deployment_demo.py). What went wrong."""
    start_demo(page)
    page.click("button:has-text('Next test digit')")
    reading = page.get_attribute(".digit-demo", "data-reading")
    return [] if reading in list("0123456789") else [f"the demo read {reading!r}"]


def notebook_rendered(page, name):
    """A notebook page shows its cells, and its download links (the notebook, its script,
    any data file) resolve: what went wrong."""
    failures = []
    if page.locator(".jp-Cell, .jp-CodeCell, .cell").count() <= 3:
        failures.append(f"{name} has no cells")
    links = page.locator("p.notebook-downloads a")
    if links.count() < 2:
        failures.append(f"{name}: no downloads (the notebook and its script, and any data file)")
    for i in range(links.count()):
        href = links.nth(i).evaluate("a => a.href")
        response = page.request.get(href)
        if not (response.ok and len(response.body()) > 1000):
            failures.append(f"{name}: download {href} does not resolve")
    return failures


def sections_missing(printed, built_site):
    """The chapter pages whose title the print page's text lacks."""
    missing = []
    for name in pages_of(built_site):
        if name.startswith("ch07/"):
            html = (built_site / name).read_text()
            title = re.search(r"<h1[^>]*>(.*?)(<a|</h1>)", html, re.S).group(1)
            title = re.sub(r"<[^>]+>", "", title).strip()
            if title not in printed:
                missing.append(f"the print page lacks {name} ({title!r})")
    return missing
