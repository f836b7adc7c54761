"""Lighter pages: no bytes that draw nothing.

Two kinds, on the chapter pages (notebook pages keep their markup: JupyterLab's style sheet,
not Material's, colours their code):

- Pygments wraps every name in a code block in `<span class="n">`, and every bracket, comma
  and dot in `<span class="p">`. Material colours names with `--md-code-hl-name-color`,
  which both of its schemes set to `var(--md-code-fg-color)`, the colour of the block's own
  text, and the book's style sheet (docs/assets/stylesheets/extra.css) sets
  `--md-code-hl-punctuation-color` to the same. These spans draw nothing: the same glyphs,
  in the same colour, in the same place. Names and punctuation are the commonest tokens of
  Python: their spans are a fifth to a quarter of the bytes of a page's code.
- Material's templates indent the page's navigation and header by nesting depth. A line
  break followed by spaces renders as one space, as a line break alone does, outside
  `<pre>` (and `<textarea>`, `<script>`, whose text is not HTML's): the indentation goes.

Together they keep the pages with exercises within the 450 KB budget of a text page
(benchmarks/page_weight.py; figures in README.md, "The site in a browser"). The text of every
code block, which the copy button copies and the search indexes, is unchanged;
tests/test_hooks.py checks the colours in the installed Material and in the book's sheet, and
that a page's tags and text are the same before and after.
"""

import re

# A name's or a punctuation mark's span, with its text (which holds no tag).
INVISIBLE_SPAN = re.compile(r'<span class="[np]">([^<]*)</span>')
# What keeps its whitespace: preformatted text, and the text of scripts and text areas.
VERBATIM = re.compile(r"(<(pre|textarea|script)\b.*?</\2>)", re.DOTALL | re.IGNORECASE)
INDENTATION = re.compile(r"\n[ \t]+")


def without_invisible_spans(html: str) -> str:
    return INVISIBLE_SPAN.sub(r"\1", html)


def without_indentation(html: str) -> str:
    parts = VERBATIM.split(html)  # text, verbatim, its tag name, text, ...
    for i in range(0, len(parts), 3):
        parts[i] = INDENTATION.sub("\n", parts[i])
    return "".join(part for i, part in enumerate(parts) if i % 3 != 2)


def on_page_content(html, page, config, files):
    if page.file.src_uri.endswith(".ipynb"):
        return html
    return without_invisible_spans(html)


def on_post_page(output, page, config):
    if page.file.src_uri.endswith(".ipynb"):
        return output
    return without_indentation(output)
