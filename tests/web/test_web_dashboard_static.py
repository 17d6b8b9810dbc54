"""The dashboard's files: the test ids docs/dashboard.md promises exist in the page or its script (and
every id the page uses is documented), the page loads nothing from elsewhere, and the files sit inside
the package (hatchling ships everything under src/gridedge in the wheel)."""

from __future__ import annotations

import re
from pathlib import Path

from gridedge.web.app import CSP, STATIC

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "dashboard.md"


def documented() -> set[str]:
    """The ids in the first column of the doc's test-id table (`<id>`/`<kind>`/`<n>` as a prefix)."""
    text = DOC.read_text()
    table = text.split("## Stable test ids", 1)[1]
    ids: set[str] = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            ids |= {re.sub(r"<[a-z]+>$", "*", name) for name in re.findall(r"`([^`]+)`", first)}
    return ids


def used() -> set[str]:
    """The ids in index.html and dashboard.js (templated ones as prefix*)."""
    html = (STATIC / "index.html").read_text()
    js = (STATIC / "dashboard.js").read_text()
    ids = set(re.findall(r'data-testid="([a-z0-9-]+)"', html))
    ids |= set(re.findall(r'"data-testid": "([a-z0-9-]+)"', js))
    ids |= {f"{p}*" for p in re.findall(r'"data-testid": `([a-z0-9-]+)\$\{', js)}
    ids |= set(re.findall(r'[a-z_]+: "([a-z-]+-power)"', js))  # the flow's values (TEST_IDS)
    ids |= set(re.findall(r'"(battery-soc|ev-soc)"', js))
    return {i for i in ids if i}


def test_every_documented_test_id_is_on_the_page_and_every_used_one_documented() -> None:
    doc, page = documented(), used()
    assert len(doc) > 60
    assert "grid-power" in doc and "site-row-*" in doc and "issue-limit-form" in doc
    assert doc - page == set(), "documented but not on the page"
    assert page - doc == set(), "on the page but not documented"


def test_the_page_loads_only_its_own_files() -> None:
    for f in STATIC.iterdir():
        text = f.read_text()
        urls = set(re.findall(r"https?://[^\s\"'`)>]+", text)) - {"http://www.w3.org/2000/svg"}
        assert urls == set(), (f.name, urls)
    html = (STATIC / "index.html").read_text()
    assert '<script src="/vendor/plotly.min.js" defer>' in html and 'name="viewport"' in html
    assert "<script>" not in html and " on" not in re.sub(r"<!--.*?-->", "", html).replace(" one", "")
    assert "script-src 'self'" in CSP and "unsafe-eval" not in CSP
    js = (STATIC / "dashboard.js").read_text()
    assert "innerHTML" not in js and "eval(" not in js  # data goes in as text only
    assert "X-Gridedge-Request" in js


def test_the_files_are_inside_the_package() -> None:
    import gridedge.web

    assert Path(gridedge.web.__file__).resolve().parent / "static" == STATIC
    names = {f.name for f in STATIC.iterdir()}
    assert {"index.html", "dashboard.js", "dashboard.css", "favicon.svg"} <= names
    assert not any(n.startswith("plotly") for n in names)  # plotly.js comes from the plotly package
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'packages = ["src/gridedge"]' in pyproject  # hatchling: every file under it goes in the wheel
    ignored = (ROOT / ".gitignore").read_text().split()
    assert not any(pat in ("*.html", "*.js", "*.css", "*.svg", "static/") for pat in ignored)
