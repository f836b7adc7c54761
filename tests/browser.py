"""Debian's chromium, as the browser tests and benchmarks/page_weight.py both drive it.

One place for the settings and for the measure they share: how a built site is served on
127.0.0.1, how a browser is launched, and how many bytes a page makes a cold browser fetch.
"""

import contextlib
import functools
import http.server
import os
import threading

import pytest

# Debian's chromium, never a browser Playwright downloads. As root, without a sandbox; and
# without the background traffic that Chromium would otherwise send to Google.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Fetched once per site, in the background: the files of search, and the site's icon, which
# Chromium asks for whenever it pleases (on one load of a page and not on the next). Reported
# apart from each page.
SITE_WIDE = ("search/search_index.json", "/workers/search.", "/assets/images/favicon.png")
BUDGET_KB = {"text": 450, "notebook": 1024}
# axe-core's rules for WCAG 2.1 A and AA, reporting violations only (collecting the nodes
# that pass costs most of its time on long pages).
WCAG_21_AA = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
# What the Deployment page's demo may download once started, on top of the page (issue 17).
DEMO_BUDGET_KB = 2048


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def served(site):
    """Serve the folder `site` on 127.0.0.1 at a free port; yield its base URL, ending in /."""
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def require_chromium() -> None:
    """For a module of browser tests, at its top: without Debian's chromium, skip it with
    that reason, except in CI (CI=true), where .ci/run installs it and its absence fails."""
    if os.path.exists(CHROMIUM):
        return
    if os.environ.get("CI"):
        pytest.fail(
            f"{CHROMIUM} is missing: .ci/run should have installed Debian's chromium", pytrace=False
        )
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True
    )


def to_dark(page) -> None:
    """Switch the open page to Material's dark scheme with its toggle, as a reader does."""
    page.locator("label[title='Switch to dark mode']").first.click()
    page.wait_for_function("document.body.dataset.mdColorScheme === 'slate'")


def kind_of(name: str) -> str:
    return "notebook" if name.startswith("notebooks/") else "text"


def record_sizes(context) -> dict[str, int]:
    """From now on, the uncompressed size of every response the context receives, by URL."""
    sizes = {}
    context.on("response", lambda r: sizes.__setitem__(r.url, len(r.body()) if r.ok else 0))
    return sizes


def load_everything(page) -> None:
    """Scroll to the end of the page and wait until every image it shows has loaded: what a
    page loads lazily is its images (loading=lazy). The site-wide search files, which the
    page fetches in the background, are counted apart (weight) and need no wait. (Waiting
    for the network to be idle instead costs half a second of silence on every page.)"""
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_function(
        "[...document.images].filter(i => i.getClientRects().length).every(i => i.complete)"
    )


def weight(sizes: dict[str, int], base: str, name: str) -> tuple[dict, dict]:
    """The page's own bytes against its budget, and the site-wide search files it fetched,
    from the sizes of what a cold browser fetched for the page `name` of the site at `base`."""
    own = {u: s for u, s in sizes.items() if not any(k in u for k in SITE_WIDE)}
    site_wide = {u.removeprefix(base): s for u, s in sizes.items() if u not in own}
    kind, total = kind_of(name), sum(own.values())
    largest = sorted(((s, u.removeprefix(base)) for u, s in own.items()), reverse=True)[:3]
    return {
        "kind": kind,
        "bytes": total,
        "requests": len(own),
        "within_budget": total <= BUDGET_KB[kind] * 1024,
        "largest": largest,
    }, site_wide


def start_demo(page) -> None:
    """Press the page's Start button (the Deployment page's demo) and wait until the demo is
    drawn: its bars are there once its scripts have loaded and run."""
    page.click(".digit-demo__start")
    page.wait_for_selector(".digit-demo__bars")


def demo_download(page, sizes: dict[str, int], base: str) -> dict[str, int]:
    """Start the page's demo (`start_demo`); what that downloaded, from the sizes that
    `record_sizes` keeps: each address fetched since (relative to `base`) and its bytes. The
    site-wide files (SITE_WIDE: search's, and the icon) are not the demo's."""
    before = set(sizes)
    start_demo(page)
    return {
        u.removeprefix(base): s
        for u, s in sizes.items()
        if u not in before and not any(k in u for k in SITE_WIDE)
    }


def page_weight(browser, base: str, name: str) -> tuple[dict, dict]:
    """Open the page cold (a new context: empty cache) and weigh it (see `weight`). A page
    with a demo that loads nothing until started also gets, apart, what Start downloads
    ("demo_download", by address: `demo_download`)."""
    context = browser.new_context()
    sizes = record_sizes(context)
    page = context.new_page()
    page.goto(base + name, wait_until="load")
    load_everything(page)
    own, site_wide = weight(dict(sizes), base, name)
    if page.locator(".digit-demo__start").count():
        own["demo_download"] = demo_download(page, sizes, base)
    context.close()
    return own, site_wide
