"""Page weight: the bytes each page of the built book makes a browser fetch.

    python benchmarks/page_weight.py            # builds the site first
    python benchmarks/page_weight.py --site site

Each page is opened cold (empty cache) in Debian's chromium, on 127.0.0.1, and every response
is counted, uncompressed: the HTML, style sheets, scripts, fonts and images. The search index
and its web worker are fetched once for the whole site, in the background, so they are
reported on a line of their own rather than added to every page. Budgets (issue: the site in
a real browser): 450 KB for a text page, 1 MB for a notebook page. The print page, the whole
chapter on one page, is held to the text budget too and reported as over it: it carries all
twelve chapter pages' text, code and figures. Writes benchmarks/results/page_weight.json
(with a summary that the book's front page quotes) and page_weight.md.
"""

import argparse
import functools
import http.server
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading

from playwright.sync_api import sync_playwright

REPO = pathlib.Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
# Debian's chromium, never a browser Playwright downloads. As root, without a sandbox; and
# without the background traffic that Chromium would otherwise send to Google.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SITE_WIDE = ("search/search_index.json", "/workers/search.")
BUDGET_KB = {"text": 450, "notebook": 1024}


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def weigh(browser, url: str) -> dict[str, int]:
    """Open url cold (a new browser context: empty cache) and return the uncompressed size of
    every response, by URL, including what loads lazily when the page is scrolled to its end."""
    context = browser.new_context()
    page = context.new_page()
    sizes = {}
    context.on("response", lambda r: sizes.__setitem__(r.url, len(r.body()) if r.ok else 0))
    page.goto(url, wait_until="networkidle")
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # anything lazy, too
    page.wait_for_load_state("networkidle")
    context.close()
    return sizes


def kind_of(name: str) -> str:
    return "notebook" if name.startswith("notebooks/") else "text"


def page_weight(browser, base: str, name: str) -> tuple[dict, dict]:
    """The page's own bytes against its budget, and the site-wide search files it fetched."""
    sizes = weigh(browser, base + name)
    own = {u: s for u, s in sizes.items() if not any(k in u for k in SITE_WIDE)}
    site_wide = {u.removeprefix(base): s for u, s in sizes.items() if u not in own}
    kind, total = kind_of(name), sum(own.values())
    return {"kind": kind, "bytes": total, "requests": len(own),
            "within_budget": total <= BUDGET_KB[kind] * 1024,
            "largest": sorted(((s, u.removeprefix(base)) for u, s in own.items()), reverse=True)[:3]}, site_wide


def measure(site: pathlib.Path) -> dict:
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    pages, site_wide = {}, {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for path in sorted(site.rglob("*.html")):
            name = path.relative_to(site).as_posix()
            pages[name], fetched = page_weight(browser, base, name)
            site_wide.update(fetched)
        browser.close()
    server.shutdown()
    return {"pages": pages, "site_wide": site_wide, "budget_kb": BUDGET_KB, "summary": summary(pages, site_wide)}


def kb(n: int) -> int:
    return round(n / 1024)


def summary(pages: dict, site_wide: dict) -> dict:
    chapter = {n: p for n, p in pages.items() if n != "print_page.html"}
    by_kind = {kind: [p["bytes"] for p in chapter.values() if p["kind"] == kind] for kind in BUDGET_KB}
    return {
        "pages": len(pages),
        "over_budget": sorted(n for n, p in pages.items() if not p["within_budget"]),
        "text_max_kb": kb(max(by_kind["text"])),
        "notebook_max_kb": kb(max(by_kind["notebook"])),
        "print_page_kb": kb(pages["print_page.html"]["bytes"]) if "print_page.html" in pages else None,
        "search_kb": kb(sum(site_wide.values())),
    }


def table(report: dict) -> str:
    lines = ["| page | kind | weight | budget | requests | largest |", "| --- | --- | ---: | ---: | ---: | --- |"]
    for name, p in report["pages"].items():
        largest = ", ".join(f"{u} {s / 1024:.0f} KB" for s, u in p["largest"][:2])
        mark = "" if p["within_budget"] else " **over**"
        lines.append(f"| {name} | {p['kind']} | {p['bytes'] / 1024:.0f} KB{mark} | "
                     f"{report['budget_kb'][p['kind']]} KB | {p['requests']} | {largest} |")
    shared = sum(report["site_wide"].values())
    lines.append(f"\nSite-wide, fetched once in the background for search: {shared / 1024:.0f} KB "
                 f"({', '.join(f'{u} {s / 1024:.0f} KB' for u, s in report['site_wide'].items())}).")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=pathlib.Path, help="a built site (default: build one now)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        site = args.site
        if site is None:
            site = pathlib.Path(scratch)
            subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
                           cwd=REPO, check=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
        report = measure(site)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "page_weight.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / "page_weight.md").write_text(table(report))
    print(table(report))


if __name__ == "__main__":
    main()
