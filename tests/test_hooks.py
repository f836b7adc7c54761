"""The build hooks' own promises, on small inputs (the built site is checked in test_pages.py
and, in a browser, in test_browser.py)."""

import pytest
from mkdocs.exceptions import PluginError

from hooks.notebook_css import parsed, trimmed_styles
from hooks.render_math import typeset_page


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


def test_notebook_css_drops_only_rules_that_cannot_match():
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


def test_notebook_css_parses_a_sheet_once_and_each_page_gets_its_own_rules():
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

    from hooks.htmlproofer_anchors import read_anchors

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
