"""Every relative link in README.md, docs/*.md, bench/README.md and helm/README.md resolves: to a
file or folder of the repository, and, with a ``#anchor``, to a heading of its target (the anchor
GitHub makes of it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "bench" / "README.md",
    ROOT / "helm" / "README.md",
]
# Documents written on another branch and linked before it is merged; checked like any other
# once they exist.
PENDING = {"docs/chaincode-rules.md"}

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:")


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text, lower case, without punctuation, spaces as '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = re.sub(r"[^\w\- ]", "", text.replace("`", "").strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a document's headings; a repeated heading gets -1, -2, ... as on GitHub."""
    out: set[str] = set()
    count: dict[str, int] = {}
    for h in HEADING.findall(FENCE.sub("", path.read_text())):
        s = slug(h)
        n = count.get(s, 0)
        out.add(s if n == 0 else f"{s}-{n}")
        count[s] = n + 1
    return out


def links(path: Path) -> list[str]:
    """Link targets outside code blocks and code spans, without URLs (http:, mailto:, ...)."""
    text = CODE.sub("", FENCE.sub("", path.read_text()))
    return [t for t in LINK.findall(text) if not SCHEME.match(t)]


def broken(doc: Path, root: Path = ROOT, pending: frozenset[str] = frozenset(PENDING)) -> list[str]:
    out = []
    for target in links(doc):
        where, _, anchor = target.partition("#")
        dest = (doc.parent / where).resolve() if where else doc
        if not dest.is_relative_to(root):
            out.append(f"{target}: outside the repository")
        elif not dest.exists():
            if dest.relative_to(root).as_posix() not in pending:
                out.append(f"{target}: no such file")
        elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
            out.append(f"{target}: no heading with the anchor #{anchor}")
    return out


@pytest.mark.parametrize("doc", DOCS, ids=[d.relative_to(ROOT).as_posix() for d in DOCS])
def test_every_relative_link_resolves(doc: Path) -> None:
    assert broken(doc) == []


def test_the_check_finds_a_missing_file_an_unknown_anchor_and_a_path_outside(tmp_path: Path) -> None:
    assert slug("The peer's long block commits") == "the-peers-long-block-commits"
    assert slug("The chaincode (`chaincode/gxtv3`, Node.js)") == "the-chaincode-chaincodegxtv3-nodejs"
    assert slug("End to end (`bench.e2e`)") == "end-to-end-benche2e"
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "b.md").write_text("# Part\n## Part\n")
    doc = root / "docs" / "a.md"
    doc.write_text(
        "# A title, with `code`\n"
        "[ok](#a-title-with-code) [ok](b.md#part-1) [ok](../docs) [ok](later.md) `[no](x.md)`\n"
        "```\n[no](y.md)\n```\n"
        "[f](nope.md) [a](b.md#none) [o](../../x.md) [u](https://example.org/z)\n"
    )
    assert broken(doc, root, frozenset({"docs/later.md"})) == [
        "nope.md: no such file",
        "b.md#none: no heading with the anchor #none",
        "../../x.md: outside the repository",
    ]
