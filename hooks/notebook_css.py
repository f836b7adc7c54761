"""MkDocs hook: notebook pages keep only the CSS rules that can apply to them.

mkdocs-jupyter puts JupyterLab's whole style sheet (about 580 KB: the editor, dialogs, file
browser, menus...) inline in every notebook page, although a rendered notebook uses a small
part of it. This hook parses each inline style sheet of a notebook page with tinycss2 and
drops a rule when every one of its selectors names a class that appears nowhere in the page.
That test only ever removes rules that cannot match: classes inside :not(...) and other
functional pseudo-classes are not required, rules without classes (custom properties on
:root, element selectors, @font-face...) are kept, and so are rules on the md-* classes that
Material's script adds while the page runs. Nothing else on the page changes.
"""

import re

import tinycss2

STYLE = re.compile(r"(<style[^>]*>)(.*?)(</style>)", re.S)
CLASS_ATTRIBUTE = re.compile(r"""class=["']([^"']*)["']""")
CLASS_IN_SELECTOR = re.compile(r"\.(-?[_a-zA-Z][\w-]*)")
FUNCTIONAL_PSEUDO = re.compile(r":[\w-]+\((?:[^()]|\([^()]*\))*\)")  # :not(.a .b), :is(...), :nth-child(2n)
ADDED_BY_SCRIPTS = ("md-",)  # Material's script adds classes such as md-typeset__scrollwrap


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


def can_match(prelude: str, classes: set[str]) -> bool:
    for selector in selectors(prelude):
        required = CLASS_IN_SELECTOR.findall(FUNCTIONAL_PSEUDO.sub("", selector))
        if all(name in classes or name.startswith(ADDED_BY_SCRIPTS) for name in required):
            return True
    return False


def trim(rules, classes: set[str]) -> str:
    kept = []
    for rule in rules:
        if rule.type == "qualified-rule":
            if can_match(tinycss2.serialize(rule.prelude), classes):
                kept.append(rule.serialize())
        elif rule.type == "at-rule" and rule.lower_at_keyword in ("media", "supports") and rule.content:
            inner = trim(tinycss2.parse_blocks_contents(rule.content), classes)
            if inner.strip():
                kept.append(f"@{rule.at_keyword}{tinycss2.serialize(rule.prelude)}{{{inner}}}")
        elif rule.type != "whitespace":
            kept.append(rule.serialize())  # @charset, @font-face, @keyframes, comments
    return "".join(kept)


def trimmed_styles(output: str) -> str:
    """The page with each inline style sheet trimmed to the rules that can match it."""
    classes = {name for value in CLASS_ATTRIBUTE.findall(output) for name in value.split()}

    def trimmed(match):
        sheet = tinycss2.parse_stylesheet(match[2])
        if any(rule.type == "error" for rule in sheet):
            return match[0]  # a sheet tinycss2 cannot parse is left as it is
        return match[1] + trim(sheet, classes) + match[3]

    return STYLE.sub(trimmed, output)


def on_post_page(output, page, config):
    if page.file.src_uri.endswith(".ipynb"):
        return trimmed_styles(output)
    return output
