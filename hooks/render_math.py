"""MkDocs hook: the book's math is typeset when the site is built, into MathML.

pymdownx.arithmatex (generic mode) marks every formula in a page's HTML:

    <span class="arithmatex">\\(g_t\\)</span>            inline
    <div class="arithmatex">\\[ ... \\]</div>             displayed

This hook runs KaTeX (hooks/katex/katex.min.js, KaTeX 0.19.1) in an embedded V8 engine (the
mini-racer package, no Node.js needed) and puts KaTeX's MathML output in place of the TeX.
Browsers draw MathML themselves (Chrome and Edge since 109, Firefox, Safari) with the reader's
math font, and screen readers read it, so a page with math downloads no script, no style
sheet and no font for it. KaTeX's other output, HTML drawn with KaTeX's own fonts and style
sheet, made each page with math 75-175 KB heavier (measured with benchmarks/page_weight.py).
A formula KaTeX cannot parse fails the build, naming the page.

Four touches make KaTeX's MathML look as TeX would in MathML Core, what browsers implement
(checked in Chromium; tests/test_pages.py): MathML Core draws `mathvariant="bold"` (KaTeX's
\\mathbf) as plain italic letters, so those letters become Unicode's mathematical bold ones
(w -> 𝐰), as MathML Core asks authors to do; a prime is written after its letter rather than
as a superscript, which browsers would raise twice (f′, not f ′); a function name before its
argument gets TeX's thin space (log p, not logp), but none before a parenthesis (max(0, z));
and norm bars hug what they enclose (‖θ‖, not ‖ θ ‖).

It works on the final HTML (on_post_page), after the search plugin has indexed the page, so
search still sees the TeX (`\\theta`). The print page is written by mkdocs-print-site-plugin
after all pages (on_post_build), so it is typeset after that.
"""

import functools
import html
import pathlib
import re
import unicodedata

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

KATEX_JS = pathlib.Path(__file__).resolve().parent / "katex" / "katex.min.js"
FORMULA = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">\\(?P<open>[(\[])(?P<tex>.*?)\\[)\]]</(?P=tag)>', re.S
)
STYLED = re.compile(
    r'<(?P<tag>mi|mn|mo|mtext) mathvariant="(?P<variant>[a-z-]+)">(?P<text>[^<]*)</(?P=tag)>'
)
# mathvariant -> the word in the Unicode names of its letters ("MATHEMATICAL BOLD SMALL W").
UNICODE_STYLE = {
    "bold": "BOLD",
    "italic": "ITALIC",
    "bold-italic": "BOLD ITALIC",
    "double-struck": "DOUBLE-STRUCK",
    "script": "SCRIPT",
    "bold-script": "BOLD SCRIPT",
    "fraktur": "FRAKTUR",
    "bold-fraktur": "BOLD FRAKTUR",
    "sans-serif": "SANS-SERIF",
    "bold-sans-serif": "SANS-SERIF BOLD",
    "sans-serif-italic": "SANS-SERIF ITALIC",
    "monospace": "MONOSPACE",
}


@functools.cache
def katex():
    from py_mini_racer import MiniRacer  # imported here: only builds with math need it

    engine = MiniRacer()
    engine.eval(KATEX_JS.read_text(encoding="utf-8"))
    return engine


def styled_character(char: str, style: str) -> str:
    """char in a Unicode mathematical style: ('w', 'BOLD') -> '𝐰'; itself if there is none."""
    name = unicodedata.name(char, "").split()
    if char.isdigit():
        what = f"DIGIT {name[-1]}"
    elif name[:1] in (["LATIN"], ["GREEK"]):
        what = f"{'CAPITAL' if 'CAPITAL' in name else 'SMALL'} {name[-1]}"
    else:
        return char
    # A few letters were in Unicode before the mathematical block, under other names (ℝ, ℒ, ℎ).
    names = [f"MATHEMATICAL {style} {what}", f"{style} {what}", f"BLACK-LETTER {what}"]
    if (style, what) == ("ITALIC", "SMALL H"):
        names.insert(0, "PLANCK CONSTANT")
    for candidate in names:
        try:
            return unicodedata.lookup(candidate)
        except KeyError:
            pass
    return char


PRIME_AS_SUPERSCRIPT = re.compile(
    r"<msup>(<mi>[^<]*</mi>|<mrow>(?:(?!<mrow>).)*?</mrow>)<mo[^>]*>([′″‴])</mo></msup>"
)
APPLY_FUNCTION = re.compile(r"<mo>\u2061</mo>(?=<m(?!o[ >]))")  # ⁡ before anything but an operator
BARS = re.compile(r'<mo stretchy="false">([|∥])</mo>')  # \lvert, \lVert: fences, no space inside


def for_mathml_core(mathml: str) -> str:
    mathml = PRIME_AS_SUPERSCRIPT.sub(r'\1<mo lspace="0em" rspace="0em">\2</mo>', mathml)
    mathml = APPLY_FUNCTION.sub('<mo rspace="0.1667em">\u2061</mo>', mathml)
    mathml = BARS.sub(r'<mo stretchy="false" lspace="0em" rspace="0em">\1</mo>', mathml)
    return unicode_styles(mathml)


def unicode_styles(mathml: str) -> str:
    def replace(match):
        style = UNICODE_STYLE.get(match["variant"])
        if style is None:  # "normal" and the like: MathML Core draws these itself
            return match[0]
        text = "".join(styled_character(c, style) for c in html.unescape(match["text"]))
        return f"<{match['tag']}>{html.escape(text, quote=False)}</{match['tag']}>"

    return STYLED.sub(replace, mathml)


@functools.cache  # the print page repeats every formula of the chapter
def typeset(tex: str, display: bool) -> str:
    options = {"displayMode": display, "throwOnError": True, "output": "mathml"}
    return for_mathml_core(katex().call("katex.renderToString", tex, options))


def typeset_page(html_text: str, where: str) -> str:
    def replace(match):
        tex = html.unescape(match["tex"])
        try:
            rendered = typeset(tex, display=match["open"] == "[")
        except Exception as error:  # KaTeX's ParseError arrives as a JavaScript exception
            reason = str(error).splitlines()[0].removeprefix("<anonymous>:1: ")
            raise PluginError(f"{where}: KaTeX cannot typeset {tex.strip()!r}: {reason}") from None
        if match["tag"] == "div":  # displayed: a wide formula scrolls sideways, so it takes
            # the keyboard's focus too, as Material's code blocks do (axe: a region that
            # scrolls must be reachable without a mouse)
            return f'<div class="arithmatex" tabindex="0">{rendered}</div>'
        return f'<span class="arithmatex">{rendered}</span>'

    return FORMULA.sub(replace, html_text)


def on_post_page(output, page, config):
    return typeset_page(output, page.file.src_uri)


@event_priority(-100)  # after mkdocs-print-site-plugin has written the print page
def on_post_build(config):
    for path in pathlib.Path(config["site_dir"]).rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        if 'class="arithmatex">\\' in text:
            path.write_text(typeset_page(text, path.name), encoding="utf-8")
