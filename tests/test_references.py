"""One bibliography (docs/references.md): each work once, cited by its year everywhere."""

import re

from tests.helpers import PAGES, REPO

BIBLIOGRAPHY = REPO / "docs" / "references.md"
# An entry: a paragraph that starts with its bold label and ends with its anchor.
ENTRY = re.compile(
    r"^\*\*(?P<label>[^*]+)\.\*\*(?P<text>.*?)\n\{: #(?P<key>[\w-]+) \}$", re.M | re.S
)
CITATION = re.compile(r"\[(?P<text>[^\]]*)\]\((?:\.\./)*references\.md#(?P<key>[\w-]+)\)")


def entries() -> dict[str, dict[str, str]]:
    found = {}
    for match in ENTRY.finditer(BIBLIOGRAPHY.read_text("utf-8")):
        assert match["key"] not in found, f"{match['key']} stands twice"
        found[match["key"]] = match.groupdict()
    return found


def citations() -> list[tuple[str, str, str]]:
    """(page, link text, key) of every link into the bibliography."""
    return [
        (page.relative_to(REPO).as_posix(), match["text"], match["key"])
        for page in PAGES
        if page != BIBLIOGRAPHY
        for match in CITATION.finditer(page.read_text("utf-8"))
    ]


def test_each_entry_has_one_year_in_its_label_its_key_and_its_text():
    bibliography = entries()
    assert len(bibliography) >= 20
    for key, entry in bibliography.items():
        years = set(re.findall(r"\b(?:1[89]|20)\d\d\b", key + " " + entry["label"]))
        assert len(years) <= 1, f"{key}: label and key disagree on the year: {years}"
        if years:
            assert years <= set(re.findall(r"\b\d{4}\b", entry["text"])), key


def test_every_citation_names_an_entry_with_its_year_and_every_entry_is_cited():
    bibliography = entries()
    cited = citations()
    assert cited, "no page cites the bibliography"
    for page, text, key in cited:
        assert key in bibliography, f"{page} cites {key}, which is not in the bibliography"
        year = re.search(r"\d{4}", key)
        if year:  # the same year on every page: the one the bibliography gives
            assert year[0] in text, f"{page}: [{text}] links to {key}"
    uncited = set(bibliography) - {key for _, _, key in cited}
    assert not uncited, f"in the bibliography but cited nowhere: {sorted(uncited)}"
