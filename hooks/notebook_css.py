"""MkDocs hook: notebook pages keep only the CSS rules that can apply to them.

mkdocs-jupyter puts JupyterLab's whole style sheet (about 580 KB: the editor, dialogs, file
browser, menus...) inline in every notebook page, although a rendered notebook uses a small
part of it. This hook parses each inline style sheet of a notebook page with tinycss2 and
drops a rule when every one of its selectors names a class that appears nowhere in the page.
That test only ever removes rules that cannot match: classes inside :not(...) and other
functional pseudo-classes are not required, rules without classes (custom properties on
:root, element selectors, @font-face...) are kept, and so are rules on the md-* classes that
Material's script adds while the page runs. Nothing else on the page changes.

Every notebook page carries the same sheets, so each distinct sheet is parsed once into its
rules, each with the classes it needs, and a page only filters those (parsing the sheets for
each page made up half of the build). The rules are kept in memory for `mkdocs serve`'s
rebuilds, and in .cache/notebook_css/ (git-ignored) for the next `mkdocs build`: parsing them
takes 0.4 s, a tenth of a build. The file's name changes with the sheet, this hook and
tinycss2's version, so a stale one is never read.
"""

import functools
import hashlib
import json
import os
import pathlib
import re
from typing import NamedTuple

import tinycss2

STYLE = re.compile(r"(<style[^>]*>)(.*?)(</style>)", re.S)
CLASS_ATTRIBUTE = re.compile(r"""class=["']([^"']*)["']""")
CLASS_IN_SELECTOR = re.compile(r"\.(-?[_a-zA-Z][\w-]*)")
# :not(.a .b), :is(...), :nth-child(2n)
FUNCTIONAL_PSEUDO = re.compile(r":[\w-]+\((?:[^()]|\([^()]*\))*\)")
ADDED_BY_SCRIPTS = ("md-",)  # Material's script adds classes such as md-typeset__scrollwrap
CACHE = pathlib.Path(__file__).resolve().parents[1] / ".cache" / "notebook_css"
VERSION = hashlib.sha256(pathlib.Path(__file__).read_bytes()).hexdigest() + tinycss2.__version__


class Rule(NamedTuple):
    """A rule of a sheet, as it is written back, with what it takes to keep it."""

    text: str  # the rule; for @media and @supports, only its head: "@media print"
    # One set per selector: the classes that selector needs. None: the rule is always kept.
    needs: tuple[frozenset[str], ...] | None = None
    inner: tuple["Rule", ...] | None = None  # the rules inside @media and @supports


def selectors(prelude: str) -> list[str]:
    """Split a selector list on its top-level commas."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(prelude):
        depth += char in "(["
        depth -= char in ")]"
        if char == "," and depth == 0:
            parts.append(prelude[start:i])
            start = i + 1
    return parts + [prelude[start:]]


def needed_classes(prelude: str) -> tuple[frozenset[str], ...]:
    """For each selector, the classes a page must have for it to match."""
    return tuple(
        frozenset(
            name
            for name in CLASS_IN_SELECTOR.findall(FUNCTIONAL_PSEUDO.sub("", selector))
            if not name.startswith(ADDED_BY_SCRIPTS)
        )
        for selector in selectors(prelude)
    )


def read_rules(rules) -> tuple[Rule, ...]:
    read = []
    for rule in rules:
        if rule.type == "qualified-rule":
            read.append(Rule(rule.serialize(), needed_classes(tinycss2.serialize(rule.prelude))))
        elif (
            rule.type == "at-rule"
            and rule.lower_at_keyword in ("media", "supports")
            and rule.content
        ):
            inner = read_rules(tinycss2.parse_blocks_contents(rule.content))
            read.append(Rule(f"@{rule.at_keyword}{tinycss2.serialize(rule.prelude)}", inner=inner))
        elif rule.type != "whitespace":
            read.append(Rule(rule.serialize()))  # @charset, @font-face, @keyframes, comments
    return tuple(read)


def read_sheet(sheet: str) -> tuple[Rule, ...] | None:
    """The sheet's rules, or None for a sheet that tinycss2 cannot parse."""
    rules = tinycss2.parse_stylesheet(sheet)
    if any(rule.type == "error" for rule in rules):
        return None
    return read_rules(rules)


def to_json(rules):
    if rules is None:
        return None
    return [
        [rule.text, rule.needs and [sorted(needs) for needs in rule.needs], to_json(rule.inner)]
        for rule in rules
    ]


def from_json(rules):
    if rules is None:
        return None
    return tuple(
        Rule(text, needs and tuple(map(frozenset, needs)), from_json(inner))
        for text, needs, inner in rules
    )


@functools.lru_cache(maxsize=32)
def parsed(sheet: str) -> tuple[Rule, ...] | None:
    """read_sheet(sheet), from .cache/ when an earlier build has read the same sheet."""
    path = CACHE / f"{hashlib.sha256((VERSION + sheet).encode()).hexdigest()}.json"
    try:
        return from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):  # not there yet, or unreadable: read the sheet
        pass
    rules = read_sheet(sheet)
    try:
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.part")  # builds may run side by side
        partial.write_text(json.dumps(to_json(rules)), encoding="utf-8")
        os.replace(partial, path)
    except OSError:
        pass  # a read-only checkout builds without the cache
    return rules


def trim(rules: tuple[Rule, ...], classes: set[str]) -> str:
    kept = []
    for rule in rules:
        if rule.inner is not None:
            inner = trim(rule.inner, classes)
            if inner.strip():
                kept.append(f"{rule.text}{{{inner}}}")
        elif rule.needs is None or any(needs <= classes for needs in rule.needs):
            kept.append(rule.text)
    return "".join(kept)


def trimmed_styles(output: str) -> str:
    """The page with each inline style sheet trimmed to the rules that can match it."""
    classes = {name for value in CLASS_ATTRIBUTE.findall(output) for name in value.split()}

    def trimmed(match):
        rules = parsed(match[2])
        if rules is None:
            return match[0]  # a sheet tinycss2 cannot parse is left as it is
        return match[1] + trim(rules, classes) + match[3]

    return STYLE.sub(trimmed, output)


def on_post_page(output, page, config):
    if page.file.src_uri.endswith(".ipynb"):
        return trimmed_styles(output)
    return output
