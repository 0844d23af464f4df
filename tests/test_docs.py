"""Every relative link in README.md and docs/ resolves: the file exists, and so does the heading it names."""
import glob
import os
import re

from conftest import ROOT

LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path):
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # a '#' in a code block is no heading
    return {slug(m) for m in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def broken_links(path):
    text = re.sub(r"```.*?```", "", open(path, encoding="utf-8").read(), flags=re.S)
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        file, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
        if not os.path.exists(resolved):
            yield f"{os.path.relpath(path, ROOT)}: {target} (no such file)"
        elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
            yield f"{os.path.relpath(path, ROOT)}: {target} (no such heading)"


def test_every_relative_link_resolves():
    pages = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    assert len(pages) > 5
    assert [b for page in pages for b in broken_links(page)] == []


def test_the_link_check_finds_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n[ok](#title) [gone](missing.md) [bad](#nowhere)\n", encoding="utf-8")
    assert [b.split(": ", 1)[1] for b in broken_links(str(page))] == ["missing.md (no such file)",
                                                                     "#nowhere (no such heading)"]
