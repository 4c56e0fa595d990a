"""The README and docs/*.md hold together: every relative link names a file that exists and,
where it has one, a heading of that file; the README keeps exactly two set-up commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE = re.compile(r"`[^`\n]*`")  # inline code: `bucket[k+1](t+30)` is no link
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def anchors(text: str) -> set[str]:
    """Heading anchors as GitHub makes them: lower case, punctuation other than '-' and '_'
    dropped, spaces to '-', repeats numbered -1, -2, ..."""
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", text).splitlines():
        match = re.match(r"#{1,6} (.+)", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def broken_links(page: Path) -> list[str]:
    text = page.read_text()
    broken = []
    for target in LINK.findall(CODE.sub("", FENCE.sub("", text))):
        if re.match(r"[a-z]+:", target):  # http:, mailto: ...: not ours to check
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no file {file}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text()):
            broken.append(f"{target}: no heading #{anchor} in {file.name}")
    return broken


def test_the_anchor_rule_matches_githubs():
    text = "# A b\n## Checking a scenario: `waifang validate`\n## The champion's spending\n# A b\n"
    assert anchors(text) == {"a-b", "checking-a-scenario-waifang-validate",
                             "the-champions-spending", "a-b-1"}


def test_a_broken_link_is_reported(tmp_path):
    (tmp_path / "other.md").write_text("# Title\n## Part two\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#part-two) [file](missing.md) [head](other.md#part-three) "
                    "[here](#title) [web](https://example.org/x) `a[i](j)` [`code`](other.md)"
                    "\n# Title\n")
    assert broken_links(page) == [
        f"missing.md: no file {tmp_path / 'missing.md'}",
        "other.md#part-three: no heading #part-three in other.md",
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_every_docs_page_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text()
    for page in PAGES[1:]:
        assert f"](docs/{page.name}" in readme, page.name


def test_the_readme_keeps_exactly_two_set_up_commands_and_ci_runs_the_second():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Set-up: two commands\n", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^```sh\n(.*?)\n```", section, re.S | re.M)
    assert len(commands) == 2, commands
    assert all("\n" not in c for c in commands), "each set-up command is one line"
    assert "waifang run baseline" in commands[0]
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1].endswith("python -m pytest -q") and "python -m pytest -q\n" in ci
    assert "pip install -q -e '.[dev]'" in ci and "pip install -e '.[dev]'" in commands[1]
