"""Page weight: the bytes each page of the built book makes a browser fetch.

    python benchmarks/page_weight.py            # builds the site first
    python benchmarks/page_weight.py --site site

Each page is opened cold (empty cache) in Debian's chromium, on 127.0.0.1, and every response
is counted, uncompressed: the HTML, style sheets, scripts, fonts and images. The search index
and its web worker are fetched once for the whole site, in the background, and so is the
site's icon (when Chromium asks for it at all), so they are reported on a line of their own
rather than added to every page. Budgets (issue: the site in
a real browser): 450 KB for a text page, 1 MB for a notebook page. The print page, the whole
chapter on one page, is held to the text budget too and reported as over it: it carries all
twelve chapter pages' text, code and figures. A page with the drawing demo (Deployment, and
the print page) fetches nothing for it until its Start button is pressed: its weight is what
it fetches before, and what Start downloads is reported apart (budget 2 MB, issue 17).
Writes benchmarks/results/page_weight.json (with a summary that the book's front page quotes)
and page_weight.md.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

from playwright.sync_api import sync_playwright

REPO = pathlib.Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO))  # run as a script: the book's root holds tests/browser.py
from tests.browser import BUDGET_KB, DEMO_BUDGET_KB, launch, page_weight, served  # noqa: E402


def measure(site: pathlib.Path) -> dict:
    pages, site_wide = {}, {}
    with served(site) as base, sync_playwright() as playwright:
        browser = launch(playwright)
        for path in sorted(site.rglob("*.html")):
            name = path.relative_to(site).as_posix()
            pages[name], fetched = page_weight(browser, base, name)
            site_wide.update(fetched)
        browser.close()
    return {
        "pages": pages,
        "site_wide": site_wide,
        "budget_kb": {**BUDGET_KB, "demo_download": DEMO_BUDGET_KB},
        "summary": summary(pages, site_wide),
    }


def kb(n: int) -> int:
    return round(n / 1024)


def summary(pages: dict, site_wide: dict) -> dict:
    chapter = {n: p for n, p in pages.items() if n != "print_page.html"}
    by_kind = {
        kind: [p["bytes"] for p in chapter.values() if p["kind"] == kind] for kind in BUDGET_KB
    }
    return {
        "pages": len(pages),
        "over_budget": sorted(n for n, p in pages.items() if not p["within_budget"]),
        "text_max_kb": kb(max(by_kind["text"])),
        "notebook_max_kb": kb(max(by_kind["notebook"])),
        "print_page_kb": kb(pages["print_page.html"]["bytes"])
        if "print_page.html" in pages
        else None,
        "search_kb": kb(sum(s for u, s in site_wide.items() if "search" in u)),
        # The Deployment page's demo, once started (the same files on the print page).
        "demo_download_kb": kb(sum(chapter["ch07/deployment.html"]["demo_download"].values()))
        if "demo_download" in chapter.get("ch07/deployment.html", {})
        else None,
    }


def table(report: dict) -> str:
    lines = [
        "| page | kind | weight | budget | requests | largest |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for name, p in report["pages"].items():
        largest = ", ".join(f"{u} {s / 1024:.0f} KB" for s, u in p["largest"][:2])
        mark = "" if p["within_budget"] else " **over**"
        lines.append(
            f"| {name} | {p['kind']} | {p['bytes'] / 1024:.0f} KB{mark} | "
            f"{report['budget_kb'][p['kind']]} KB | {p['requests']} | {largest} |"
        )
    for name, p in report["pages"].items():
        if "demo_download" in p:
            files = ", ".join(f"{u} {s / 1024:.0f} KB" for u, s in p["demo_download"].items())
            lines.append(
                f"\n{name}: its demo, once started, downloads "
                f"{sum(p['demo_download'].values()) / 1024:.0f} KB more "
                f"(budget {report['budget_kb']['demo_download']} KB): {files}."
            )
    shared = sum(report["site_wide"].values())
    lines.append(
        f"\nSite-wide, fetched once in the background (search, the icon): {shared / 1024:.0f} KB "
        f"({', '.join(f'{u} {s / 1024:.0f} KB' for u, s in report['site_wide'].items())})."
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=pathlib.Path, help="a built site (default: build one now)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        site = args.site
        if site is None:
            site = pathlib.Path(scratch)
            subprocess.run(
                [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
                cwd=REPO,
                check=True,
                env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
            )
        report = measure(site)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "page_weight.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / "page_weight.md").write_text(table(report))
    print(table(report))


if __name__ == "__main__":
    main()
