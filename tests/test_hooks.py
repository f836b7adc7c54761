"""The build hooks' own promises, on small inputs (the built site is checked in test_pages.py
and, in a browser, in test_browser.py)."""

import pathlib
import re

import pytest
from mkdocs.exceptions import PluginError

from hooks import notebook_css
from hooks.notebook_css import parsed, read_sheet, trimmed_styles
from hooks.render_math import typeset_page
from tests.helpers import REPO


def test_a_formula_is_typeset_and_one_katex_cannot_parse_fails_the_build_by_name():
    good = typeset_page(
        r'<p><span class="arithmatex">\(\mathbf{w}^\top \mathbf{x}\)</span></p>', "ch07/good.md"
    )
    assert '<span class="katex"><math' in good
    # \mathbf letters become Unicode's mathematical bold letters, which MathML Core draws bold.
    assert "<mi>\U0001d430</mi>" in good and "<mi>\U0001d431</mi>" in good  # 𝐰 and 𝐱
    assert '<annotation encoding="application/x-tex">' in good  # the TeX stays, for copying
    # A prime follows its letter (a superscript prime would be raised twice); a function name
    # gets a thin space before its argument but not before a parenthesis; bars hug.
    for tex, drawn in [
        (r"f'(x)", '<mi>f</mi><mo lspace="0em" rspace="0em">′</mo><mo stretchy="false">('),
        (r"\log p", '<mi>log</mi><mo rspace="0.1667em">\u2061</mo><mi>p</mi>'),
        (r"\max(0, z)", '<mi>max</mi><mo>\u2061</mo><mo stretchy="false">('),
        (r"\lVert x \rVert", '<mo stretchy="false" lspace="0em" rspace="0em">∥</mo><mi>x</mi>'),
    ]:
        typeset = typeset_page(f'<span class="arithmatex">\\({tex}\\)</span>', "ch07/x.md")
        assert drawn in typeset, tex
    with pytest.raises(PluginError, match=r"ch07/bad\.md: KaTeX cannot typeset '\\\\frac\{1\}'"):
        typeset_page(r'<div class="arithmatex">\[\frac{1}\]</div>', "ch07/bad.md")


def test_notebook_css_drops_only_rules_that_cannot_match(tmp_path, monkeypatch):
    monkeypatch.setattr(notebook_css, "CACHE", tmp_path)  # not the repository's .cache/
    page = """<html><head><style>
    :root{--jp-x:1px} .jp-Cell{margin:0} .jp-Cell .jp-Editor{color:red}
    .jp-Cell:not(.jp-mod-active) .jp-InputPrompt{opacity:.5}
    .jp-Dialog,.jp-Cell{padding:0} .md-typeset__scrollwrap{margin:0} pre{line-height:1}
    @media print{.jp-Toolbar{display:none}} @media (max-width:760px){.jp-Cell{padding:1px}}
    </style></head><body>
    <div class="jp-Cell"><div class="jp-InputPrompt"></div></div></body></html>"""
    css = trimmed_styles(page)
    for kept in [
        ":root{--jp-x:1px}",
        ".jp-Cell{margin:0}",
        ".jp-Cell:not(.jp-mod-active) .jp-InputPrompt",
        ".jp-Dialog,.jp-Cell{padding:0}",
        ".md-typeset__scrollwrap{margin:0}",
        "pre{line-height:1}",
        "@media (max-width:760px){.jp-Cell{padding:1px}}",
    ]:
        assert kept in css, kept
    for dropped in [".jp-Editor", "@media print", ".jp-Toolbar"]:
        assert dropped not in css, dropped
    # mkdocs-jupyter writes one sheet with stray text at its end (`']`); such a sheet is kept whole.
    unparsable = "<style>.jp-Editor{color:red} ']</style><div class='jp-Cell'></div>"
    assert trimmed_styles(unparsable) == unparsable


def test_notebook_css_parses_a_sheet_once_and_each_page_gets_its_own_rules(tmp_path, monkeypatch):
    monkeypatch.setattr(notebook_css, "CACHE", tmp_path)
    sheet = "<style>.jp-Cell{margin:0} .jp-Dialog{padding:0} @media print{.jp-Cell{color:red}}"
    sheet += "</style>"
    cell, dialog = sheet + '<div class="jp-Cell"></div>', sheet + '<div class="jp-Dialog"></div>'
    parsed.cache_clear()
    cold = [trimmed_styles(cell), trimmed_styles(dialog)]
    parsed.cache_clear()
    warm = [trimmed_styles(dialog), trimmed_styles(cell)][::-1]
    assert parsed.cache_info().misses == 1 and parsed.cache_info().hits == 1
    assert warm == cold  # what one page keeps does not leak into the next
    assert ".jp-Dialog" not in cold[0] and "@media print{.jp-Cell{color:red}}" in cold[0]
    assert ".jp-Cell" not in cold[1] and ".jp-Dialog{padding:0}" in cold[1]


def test_htmlproofer_anchors_are_the_ones_htmlproofer_reads_itself():
    from htmlproofer import plugin

    from hooks.plugin_speedups import read_anchors

    by_beautifulsoup = plugin.read_anchors
    assert by_beautifulsoup.__module__ == "htmlproofer.plugin"  # not already replaced
    page = """<!doctype html><html><head><title>t</title><script>x = '<a id="in-script">'</script>
    </head><body><h1 id="top">T</h1><!-- <a id="in-comment"> --><A NAME="old">x</A>
    <a name="n" id="both"></a><p name="not-a-link">p</p><div id>valueless</div>
    <span id="first" id="second"></span><h2 id="a&amp;b">&amp;</h2><br id="void"/>
    <template id="the-template"><p id="inert"><template><i id="deeper"></i></template>
    <b id="still-inert"></b></template><p id="after">x</p><template/><p id="after-empty"></p>
    </template><p id="stray-end"></p><div id="unclosed"><template><span id="never-closed">
    </div><p id="after-unclosed"></p><br></br><img id="img"><p id="p-after-img"></p></img>
    <input id="in"/><b><i id="i"></b><u id="u"></u></i></body></html>"""
    assert read_anchors(page) == by_beautifulsoup(page)
    assert {"top", "old", "both", "n", "", "second", "a&b", "void", "the-template", "after"} <= (
        read_anchors(page)
    )
    assert "after-unclosed" in read_anchors(page)  # </div> closed the template opened in it


def test_notebook_css_reads_a_sheet_from_the_cache_of_an_earlier_build(tmp_path, monkeypatch):
    monkeypatch.setattr(notebook_css, "CACHE", tmp_path)
    sheet = """@charset "utf-8"; :root{--a:1} .jp-Cell,.jp-X:not(.jp-Y) p{margin:0}
    /* a comment */ @media print{.jp-Cell{color:red} @supports (display:grid){.jp-Z{a:b}}}
    @media screen{} .md-nav .jp-Cell{x:y} @font-face{font-family:f}"""
    for text in (sheet, sheet + " ']"):  # one that parses and one that does not (None)
        parsed.cache_clear()
        built = parsed(text)  # parsed, and written for the next build
        parsed.cache_clear()
        assert parsed(text) == built == read_sheet(text)  # read back from the file
    assert len(list(tmp_path.glob("*.json"))) == 2 and not list(tmp_path.glob("*.part"))
    for cached in tmp_path.glob("*.json"):
        cached.write_text('{"damaged', encoding="utf-8")  # an unreadable file is read again
    parsed.cache_clear()
    assert parsed(sheet) == read_sheet(sheet)


def test_plugin_speedups_are_installed_once_and_print_site_output_is_unchanged(monkeypatch):
    from htmlproofer import plugin as htmlproofer
    from mkdocs_print_site_plugin import renderer as print_site
    from mkdocs_print_site_plugin import urls

    from hooks import plugin_speedups

    original = print_site.fix_internal_links
    monkeypatch.setattr(htmlproofer, "read_anchors", htmlproofer.read_anchors)  # restored after
    monkeypatch.setattr(urls, "update_anchor_ids", urls.update_anchor_ids)
    monkeypatch.setattr(print_site, "fix_internal_links", original)
    plugin_speedups.on_config({})
    plugin_speedups.on_config({})  # `mkdocs serve` calls it again for each rebuild
    assert htmlproofer.read_anchors is plugin_speedups.read_anchors
    assert print_site.fix_internal_links.__wrapped__ is original  # wrapped once only
    page = '<h2 id="a">A</h2><a href="other.html#b">b</a><a href="#a">a</a><img src="f.png">'
    for _ in range(2):  # computed, then kept
        kept = print_site.fix_internal_links(
            page, "ch07/x.html", directory_urls=False, heading_number="1"
        )
        assert kept == original(page, "ch07/x.html", directory_urls=False, heading_number="1")
    assert print_site.fix_internal_links.cache_info().hits == 1


def test_print_site_ids_are_prefixed_as_print_site_prefixes_them(monkeypatch):
    """The same page back, to the character, as print-site's own update_anchor_ids gives:
    ids on the tags it prefixes and on others, upper-case ID=, several on a line, an empty
    id, an id repeated, a tag split over lines, and lines of MathML without an id (short
    ones: on a long one print-site's own function takes minutes)."""
    from mkdocs_print_site_plugin import urls

    from hooks import plugin_speedups

    original = urls.update_anchor_ids
    assert original.__module__ == "mkdocs_print_site_plugin.urls"  # not already replaced
    mathml = "<math><mrow>" + "<mi>x</mi><mo>+</mo>" * 30 + "</mrow></math>"
    page = "\n".join([
        '<h2 id="intro">Intro</h2><p id="not-prefixed">p</p>',
        '<LI ID="Upper">u</LI><sup id="fnref:1"><a href="#fn:1">1</a></sup><h3 id="">e</h3>',
        '<h2 id="intro">Intro again</h2>  <li class="intro" id="intro">li</li>',
        '<h4\nid="split">not one line</h4><a id="__codelineno-0-1" name="__codelineno-0-1"></a>',
        mathml, f'<div class="arithmatex">{mathml}</div><h5 id="after-math">m</h5>', "",
    ])  # fmt: skip
    assert plugin_speedups.update_anchor_ids(page, "ch07-x") == original(page, "ch07-x")
    monkeypatch.setattr(urls, "update_anchor_ids", original)  # restored after
    monkeypatch.setattr(
        plugin_speedups.print_site,
        "fix_internal_links",
        plugin_speedups.print_site.fix_internal_links,
    )
    plugin_speedups.on_config({})
    assert urls.update_anchor_ids is plugin_speedups.update_anchor_ids


def test_nbconvert_compiles_each_template_once_and_renders_the_same_page(monkeypatch):
    import jinja2
    import nbformat
    from nbconvert.exporters import HTMLExporter, templateexporter

    from hooks import plugin_speedups

    installed = templateexporter.TemplateExporter._create_environment  # restored after
    original = getattr(installed, "__wrapped__", installed)  # another test may have installed it
    monkeypatch.setattr(templateexporter.TemplateExporter, "_create_environment", original)
    monkeypatch.setattr(plugin_speedups, "COMPILED_TEMPLATES", plugin_speedups.CompiledTemplates())
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# T\n$x^2$"), nbformat.v4.new_code_cell("1 + 1")]
    )
    unpatched, _ = HTMLExporter().from_notebook_node(notebook)
    plugin_speedups.on_config({})
    plugin_speedups.on_config({})  # `mkdocs serve` calls it again for each rebuild
    assert templateexporter.TemplateExporter._create_environment.__wrapped__ is original
    compiled = []
    compile_template = jinja2.Environment.compile

    def counted_compile(self, *args, **kwargs):
        compiled.append(args)
        return compile_template(self, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counted_compile)
    for exporter_number in range(2):  # a new exporter, and environment, for each notebook
        page, _ = HTMLExporter().from_notebook_node(notebook)
        assert page == unpatched
        if exporter_number == 0:
            first = len(compiled)
    assert first > 5 and len(compiled) == first  # the second one compiled nothing


def test_the_front_page_links_the_offline_book_only_when_the_build_has_it(tmp_path, monkeypatch):
    from hooks import recorded_runs

    front = (recorded_runs.REPO / "docs" / "index.md").read_text()
    assert front.count(recorded_runs.OFFLINE_MARK) == 1
    monkeypatch.delenv("BOOK_OFFLINE_ZIP", raising=False)
    assert recorded_runs.OFFLINE_MARK not in recorded_runs.offline_link(front)
    assert recorded_runs.OFFLINE_ZIP not in recorded_runs.offline_link(front)
    book = tmp_path / "book.zip"
    book.write_bytes(b"x" * 3_200_000)
    monkeypatch.setenv("BOOK_OFFLINE_ZIP", str(book))
    linked = recorded_runs.offline_link(front)
    assert f"]({recorded_runs.OFFLINE_ZIP})" in linked and "(3.2 MB)" in linked
    monkeypatch.setenv("BOOK_OFFLINE_ZIP", str(tmp_path / "missing.zip"))
    with pytest.raises(PluginError, match="missing.zip"):
        recorded_runs.offline_link(front)


def test_a_notebook_page_shows_each_figure_with_its_dark_twin():
    from hooks.recorded_runs import with_dark_twins

    html = (
        '<p>x</p><img alt="a" class="" src="data:image/png;base64,AAA="/><p>y</p>'
        '<img alt="b" src="data:image/png;base64,BBB="/><img src="other.png"/>'
    )
    paired = with_dark_twins(html, ["cnn_filters.png", "cnn_feature_maps.png"])
    assert paired == (
        '<p>x</p><img alt="a" class="" src="cnn_filters-dark.png#only-dark" loading="lazy">'
        '<img alt="a" class="" src="data:image/png;base64,AAA=#only-light"/><p>y</p>'
        '<img alt="b" src="cnn_feature_maps-dark.png#only-dark" loading="lazy">'
        '<img alt="b" src="data:image/png;base64,BBB=#only-light"/><img src="other.png"/>'
    )
    with pytest.raises(PluginError, match="2 figures shown, 1 recorded"):
        with_dark_twins(html, ["cnn_filters.png"])


def test_printed_output_keeps_the_indentation_of_its_placeholder(monkeypatch):
    """A recorded output quoted inside a collapsed solution (an indented fence) stays inside
    it: each of its lines gets the placeholder's indentation; a value in a sentence does not."""
    from hooks import recorded_runs

    run = {"outputs": {"sigmoid": "epoch 1\nepoch 2\n"}, "results": {"accuracy": 97.123}}
    monkeypatch.setattr(recorded_runs, "recorded_run", lambda name: run)
    block = '??? success "Solution"\n\n    ```text\n    {{ ch07/x outputs.sigmoid }}\n    ```\n'
    assert recorded_runs.fill(block).splitlines()[3:5] == ["    epoch 1", "    epoch 2"]
    sentence = "It ends at {{ ch07/x results.accuracy:.1f }} %."
    assert recorded_runs.fill(sentence) == "It ends at 97.1 %."


def test_lighter_pages_drop_only_code_spans_that_draw_nothing():
    """hooks/lighter_pages.py drops Pygments' name and punctuation spans from chapter pages:
    Material colours names with the code's own text colour in both schemes (if a Material
    release changes that, this fails), the book's style sheet colours punctuation so too, and
    the text of the code, and every other token's span, are unchanged."""
    import html as html_module

    import material
    import pygments
    import pygments.formatters
    import pygments.lexers

    from hooks.lighter_pages import without_invisible_spans

    sheets = pathlib.Path(material.__file__).parent / "templates" / "assets" / "stylesheets"
    css = "".join(p.read_text(encoding="utf-8") for p in sheets.glob("*.css"))
    rules = re.findall(r"([^{}]*)\{([^}]*)\}", css)
    for token, variable in (("n", "name"), ("p", "punctuation")):
        colours = {
            body for selectors, body in rules if f".highlight .{token}" in selectors.split(",")
        }
        assert colours == {f"color:var(--md-code-hl-{variable}-color)"}, token
    assert set(re.findall(r"--md-code-hl-name-color:([^;}]*)", css)) == {"var(--md-code-fg-color)"}
    extra = (REPO / "docs" / "assets" / "stylesheets" / "extra.css").read_text(encoding="utf-8")
    extra_rules = re.findall(r"([^{}]*)\{([^}]*)\}", re.sub(r"/\*.*?\*/", "", extra, flags=re.S))
    punctuation = [
        (selectors.strip(), body) for selectors, body in extra_rules if "hl-punctuation" in body
    ]
    # One rule, for every scheme (an attribute selector, after Material's sheets), and last.
    assert punctuation == [
        ("[data-md-color-scheme]", "\n  --md-code-hl-punctuation-color: var(--md-code-fg-color);\n")
    ]
    assert "hl-name-color" not in extra and not re.search(r"\.[np]\b", extra)

    code = (REPO / "examples" / "ch07" / "mnist_mlp.py").read_text(encoding="utf-8")
    lexer, formatter = pygments.lexers.PythonLexer(), pygments.formatters.HtmlFormatter()
    highlighted = pygments.highlight(code, lexer, formatter)
    lighter = without_invisible_spans(highlighted)
    for token in ("n", "p"):
        assert f'<span class="{token}">' in highlighted and f'<span class="{token}">' not in lighter
    text = [html_module.unescape(re.sub(r"<[^>]+>", "", h)) for h in (highlighted, lighter)]
    assert text[0] == text[1] and code in text[1]
    others = [re.findall(r'<span class="(?![np]")[^"]+">', h) for h in (highlighted, lighter)]
    assert others[0] == others[1]  # every other token keeps its colour
    assert len(lighter) < 0.75 * len(highlighted)


def test_lighter_pages_drop_indentation_but_no_tag_and_no_text():
    """A page without its indentation: the same tags with the same attributes,
    the same text once runs of whitespace are one space (as a browser renders them), and
    every <pre>, <textarea> and <script> to the character."""
    import html.parser

    from hooks.lighter_pages import VERBATIM, without_indentation

    class Parts(html.parser.HTMLParser):
        def __init__(self, page):
            super().__init__(convert_charrefs=True)
            self.tags, self.text = [], []
            self.feed(page)

        def handle_starttag(self, tag, attrs):
            self.tags.append((tag, attrs))

        def handle_data(self, data):
            self.text.append(data)

    page = (
        "<html>\n  <body>\n    <nav>\n      <a href='x'>A\n        link</a>\n    </nav>\n"
        "    <pre><code>def f():\n    return 1\n</code></pre>\n    <script>\n  var a = 1;\n"
        "    </script>\n    <textarea>\n  kept</textarea>\n  </body>\n</html>\n"
    )
    lighter = without_indentation(page)
    assert len(lighter) < len(page) and "\n  " not in VERBATIM.sub("", lighter)
    assert [m[0] for m in VERBATIM.findall(lighter)] == [m[0] for m in VERBATIM.findall(page)]
    before, after = Parts(page), Parts(lighter)
    assert before.tags == after.tags
    assert " ".join("".join(before.text).split()) == " ".join("".join(after.text).split())


def test_an_exercises_file_gets_its_pages_data_files_only_when_it_reads_them(tmp_path):
    """examples/record.py's data_files: the recorder copies them, the build offers them as
    downloads beside the notebook, the tests put them in the reader's folder."""
    from examples.record import data_files

    (tmp_path / "page_text.txt").write_text("a text\n")
    (tmp_path / "page.py").write_text("open('page_text.txt')\n")
    (tmp_path / "page_exercises.py").write_text("x = 1\n")
    assert data_files(tmp_path / "page.py") == [tmp_path / "page_text.txt"]
    assert data_files(tmp_path / "page_exercises.py") == []
    (tmp_path / "page_exercises.py").write_text("text = open('page_text.txt').read()\n")
    assert data_files(tmp_path / "page_exercises.py") == [tmp_path / "page_text.txt"]
