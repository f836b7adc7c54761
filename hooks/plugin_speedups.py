"""MkDocs hook: three plugins do the same work faster (1-4), and one gets a fix (5). Each
change was measured, gives the same result (tests/test_hooks.py), and applies only to the
plugin versions it was checked against.

1. mkdocs-htmlproofer-plugin reads each page's anchors without building a tree. To check links
   into a page, htmlproofer (1.6) keeps the anchors each page provides: it parses the page's
   whole HTML into a BeautifulSoup tree and selects the `id`s, and the `name`s of `<a>`,
   outside `<template>`: 1.6 s of CPU for the book's 24 pages, a third of its build. This
   hook's `read_anchors` takes the same attributes from the same tokenizer's events
   (html.parser, as BeautifulSoup runs it) without building the tree: 0.4 s. It nests the
   elements as BeautifulSoup does, so malformed markup gives the same anchors too. Every
   link is still checked by htmlproofer itself.

2. `mkdocs serve` rebuilds every page when one file changes, and mkdocs-print-site-plugin
   (2.9) then rewrites the links and ids of every page again for the print page, with
   regular expressions that take 0.6 s (a fifth of a rebuild). Its fix_internal_links is a
   function of the page's HTML and place alone, so its results for unchanged pages are kept.
   The anchors of unchanged pages are kept likewise.

3. nbconvert (7.17), which mkdocs-jupyter calls for each notebook page, makes a new Jinja
   environment for each notebook and compiles the same ~20 templates again: 2.6 s of CPU in a
   first build of the book's ten notebook pages (later builds take the pages from
   mkdocs-jupyter's cache). Every environment gets one Jinja bytecode cache, kept in memory, so
   each template is compiled once per process; Jinja keys it by the template's name and the
   checksum of its source, so an edited template is compiled again. Fresh clone: 7.3 s -> 6.6 s.

4. mkdocs-print-site-plugin (2.9) prefixes the ids of each page's headings, footnotes and list
   items with the page's name, finding them with a regular expression over the whole page.
   Its pattern backtracks through every long line without an id (a formula's MathML is one
   line of hundreds of tags): 0.9 s of a 4.6 s build. The pattern cannot match across a line
   break (neither `.` nor its class of non-spaces crosses one), nor in a line without `id="`:
   this hook's `update_anchor_ids` runs the same pattern, in the same order, over those lines
   alone, and changes the page exactly as print-site does, in 0.01 s.

5. print-site renders the print page with the template context of the 404 page, whose base
   URL is "/" (a 404 page is served at any depth, so its links start at the site's root).
   The print page, at the site's root like any page, then links its style sheets, scripts and
   search index from "/": right only when the site is served at a domain's root, wrong under
   a sub-path and from disk (the offline book's print page could not load its search index).
   It gets the same context with its own base URL, ".".
"""

import functools
import html.parser
import importlib.metadata
import logging
import re

import jinja2
from bs4.builder import HTMLParserTreeBuilder
from htmlproofer import plugin as htmlproofer
from mkdocs.plugins import event_priority
from mkdocs_print_site_plugin import renderer as print_site
from mkdocs_print_site_plugin import urls as print_site_urls
from nbconvert.exporters import templateexporter

# The plugin versions whose functions these match.
CHECKED_WITH = {
    "mkdocs-htmlproofer-plugin": ("1.6.0",),
    "mkdocs-print-site-plugin": ("2.9",),
    "nbconvert": ("7.17.2",),
}
# <br>, <img>...: closed as soon as opened, by the builder BeautifulSoup uses for html.parser
VOID = frozenset(HTMLParserTreeBuilder().empty_element_tags)
log = logging.getLogger("mkdocs.hooks.plugin_speedups")


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


@functools.lru_cache(maxsize=64)  # `mkdocs serve` rebuilds every page, most of them unchanged
def read_anchors(rendered_content: str) -> frozenset[str]:
    """The anchors a rendered page provides: what htmlproofer.plugin.read_anchors returns."""
    reader = AnchorReader()
    reader.feed(rendered_content)
    reader.close()
    return frozenset(reader.anchors)


# print-site's pattern for a tag with an id, and the tags whose ids it prefixes (urls.py).
TAG_WITH_ID = re.compile(r"<([^\s]+).*?id=\"([^\"]*?)\".*?>", flags=re.IGNORECASE)
PREFIXED_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6", "sup", "li")
HAS_ID = re.compile(r"id=\"", flags=re.IGNORECASE)  # the pattern's own `id="`, as it matches


def update_anchor_ids(page_html: str, page_key: str) -> str:
    """print-site's update_anchor_ids, searching only the lines its pattern can match in."""
    lines = [line for line in page_html.split("\n") if HAS_ID.search(line)]
    for match in (match for line in lines for match in TAG_WITH_ID.finditer(line)):
        if match.group(1) not in PREFIXED_TAGS:
            continue
        new_text = match.group().replace(match.group(2), page_key + "-" + match.group(2))
        page_html = page_html.replace(match.group(), new_text)  # every copy, as print-site does
    return page_html


class CompiledTemplates(jinja2.BytecodeCache):
    """Jinja's compiled templates, in memory, shared by every environment that uses it."""

    def __init__(self):
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket):
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket):
        self.compiled[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = CompiledTemplates()


def environment_sharing_compiled_templates(create_environment):
    @functools.wraps(create_environment)
    def create(exporter):
        environment = create_environment(exporter)
        environment.bytecode_cache = COMPILED_TEMPLATES
        return environment

    return create


def checked(package: str) -> bool:
    version = importlib.metadata.version(package)
    if version not in CHECKED_WITH[package]:
        log.info(
            "%s %s is not a version this hook was checked with: left as it is", package, version
        )
    return version in CHECKED_WITH[package]


@event_priority(50)  # before print-site renders the print page in its on_post_build
def on_post_build(config):
    print_page = config.plugins.get("print-site")
    if print_page is not None and checked("mkdocs-print-site-plugin"):
        # The 404 page's context, kept by print-site after the 404 page was rendered.
        print_page.context = {**print_page.context, "base_url": "."}


def on_config(config):
    if checked("mkdocs-htmlproofer-plugin"):
        htmlproofer.read_anchors = read_anchors  # what its on_post_page calls for each page
    fix_internal_links = print_site.fix_internal_links  # what it calls for each page
    if checked("mkdocs-print-site-plugin") and not hasattr(fix_internal_links, "cache_info"):
        print_site.fix_internal_links = functools.lru_cache(maxsize=64)(fix_internal_links)
        print_site_urls.update_anchor_ids = update_anchor_ids  # what fix_internal_links calls
    create_environment = templateexporter.TemplateExporter._create_environment
    if checked("nbconvert") and not hasattr(create_environment, "__wrapped__"):
        templateexporter.TemplateExporter._create_environment = (
            environment_sharing_compiled_templates(create_environment)
        )
