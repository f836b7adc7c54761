"""MkDocs hook: mkdocs-htmlproofer-plugin reads each page's anchors without building a tree.

To check links into a page, htmlproofer (1.6) keeps the anchors each page provides: it parses
the page's whole HTML into a BeautifulSoup tree and selects the `id`s, and the `name`s of
`<a>`, outside `<template>`. That was about 30 % of the book's build: 1.6 s of CPU for the
24 pages, where this hook's `read_anchors`, which takes the same attributes from the same
tokenizer's events (html.parser, as BeautifulSoup runs it) without building the tree, takes
0.4 s (measured on the built site). Every link is still checked by htmlproofer itself.

The result is the same set of anchors, malformed markup included: the reader nests the
elements as BeautifulSoup does (tests/test_hooks.py compares the two). It replaces
htmlproofer's function only in the version it was checked against.
"""

import html.parser
import importlib.metadata
import logging

from bs4.builder import HTMLParserTreeBuilder
from htmlproofer import plugin as htmlproofer

CHECKED_WITH = ("1.6.0",)  # mkdocs-htmlproofer-plugin versions whose read_anchors this matches
# <br>, <img>...: closed as soon as opened, by the builder BeautifulSoup uses for html.parser
VOID = frozenset(HTMLParserTreeBuilder().empty_element_tags)
log = logging.getLogger("mkdocs.hooks.htmlproofer_anchors")


class AnchorReader(html.parser.HTMLParser):
    """The ids, and names of <a>, outside <template>, with the open elements tracked as
    BeautifulSoup's html.parser builder nests them: a void element is closed at once, an end
    tag closes every element opened after the one it names, and an end tag naming no open
    element is ignored."""

    def __init__(self):
        super().__init__(convert_charrefs=False)  # as BeautifulSoup runs it
        self.anchors: set[str] = set()
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        if "template" not in self.open:  # a template's content is inert
            # Repeated attribute: the last one wins; no value: "" (both as in BeautifulSoup).
            values = {name: value or "" for name, value in attrs}
            if "id" in values:
                self.anchors.add(values["id"])
            if tag == "a" and "name" in values:
                self.anchors.add(values["name"])
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):  # <tag/>: opened and closed at once
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in self.open:
            while self.open.pop() != tag:
                pass


def read_anchors(rendered_content: str) -> frozenset[str]:
    """The anchors a rendered page provides: what htmlproofer.plugin.read_anchors returns."""
    reader = AnchorReader()
    reader.feed(rendered_content)
    reader.close()
    return frozenset(reader.anchors)


def on_config(config):
    version = importlib.metadata.version("mkdocs-htmlproofer-plugin")
    if version in CHECKED_WITH:
        htmlproofer.read_anchors = read_anchors  # what its on_post_page calls for each page
    else:
        log.info("htmlproofer %s is not one this hook was checked with: left as it is", version)
