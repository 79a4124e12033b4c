"""dynconv.booktools.sitecheck: serving the site, the root redirect, visiting every page, and the
code cells that scroll sideways."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import pytest

from dynconv.booktools import sitecheck

REPO = Path(__file__).resolve().parents[1]


def test_sitecheck_serves_a_folder_on_localhost(tmp_path):
    (tmp_path / "index.html").write_text("<html><body>hello</body></html>")
    server, base = sitecheck.serve(tmp_path)
    try:
        assert base.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{base}/index.html", timeout=5) as response:
            assert b"hello" in response.read()
    finally:
        server.shutdown()


def test_root_redirect_names_the_favicon_and_the_first_page(tmp_path):
    from dynconv.booktools.sphinxext import write_root_redirect

    (tmp_path / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=old.html" />')
    page = write_root_redirect(tmp_path, "book/intro.html", "A <book>").read_text()
    # an explicit empty icon: without one the browser requests /favicon.ico (a 404)
    assert '<link rel="icon" href="data:,">' in page
    assert 'content="0; url=book/intro.html"' in page
    assert "old.html" not in page  # rewritten on every build, unlike the upstream redirect
    assert "<title>A &lt;book&gt;</title>" in page


@pytest.mark.skipif(
    not (shutil.which("chromium") or shutil.which("chromium-browser")),
    reason="needs Debian's chromium (.ci/run installs it)",
)
def test_root_redirect_requests_nothing_but_the_first_page(tmp_path):
    """Jupyter Book's one-line redirect made Chromium ask for /favicon.ico (a 404) in about 3
    of 10 loads here, and once in CI; five loads of ours must ask for nothing else."""
    from playwright.sync_api import sync_playwright

    from dynconv.booktools.sphinxext import write_root_redirect

    write_root_redirect(tmp_path, "book/intro.html", "t")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.html").write_text(
        '<html><head><link rel="icon" href="data:,"></head><body>intro</body></html>')
    server, base = sitecheck.serve(tmp_path)
    try:
        with sync_playwright() as pw:
            chromium = shutil.which("chromium") or shutil.which("chromium-browser")
            browser = pw.chromium.launch(executable_path=chromium, args=sitecheck.CHROMIUM_ARGS)
            for _ in range(5):
                page = browser.new_page()
                page.goto(f"{base}/index.html", wait_until="networkidle")
                page.wait_for_url("**/book/intro.html")
                page.wait_for_timeout(300)
                assert page.inner_text("body") == "intro"
                page.close()
            browser.close()
    finally:
        server.shutdown()
    # as the server saw them: Playwright's events miss the browser's own favicon request
    requested = [path for path, _ in server.requests]
    assert requested == ["/index.html", "/book/intro.html"] * 5


def test_sitecheck_visits_every_page_root_redirect_first(tmp_path):
    for rel in ["index.html", "search.html", "book/intro.html", "book/chapters/01_data.html",
                "_static/theme.html", "_sources/x.html"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("<html></html>")
    assert sitecheck.site_pages(tmp_path) == [
        "index.html", "book/chapters/01_data.html", "book/intro.html", "search.html"]
    assert sitecheck.chapter_pages(tmp_path) == ["book/chapters/01_data.html"]


@pytest.mark.skipif(
    not (shutil.which("chromium") or shutil.which("chromium-browser")),
    reason="needs Debian's chromium (.ci/run installs it)",
)
def test_sitecheck_flags_a_code_cell_that_scrolls_sideways(tmp_path):
    from playwright.sync_api import sync_playwright

    def cell(code: str) -> str:
        return (f'<div class="cell_input"><pre style="width: 300px; overflow-x: auto; '
                f'font: 12px monospace">{code}</pre></div>')

    (tmp_path / "page.html").write_text(
        "<html><body>" + cell("short = 1\nfits = 2") + cell("x = 1\n" + "y" * 120 + " = 2")
        + "</body></html>")
    server, base = sitecheck.serve(tmp_path)
    try:
        with sync_playwright() as pw:
            chromium = shutil.which("chromium") or shutil.which("chromium-browser")
            browser = pw.chromium.launch(executable_path=chromium, args=sitecheck.CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"{base}/page.html")
            problems = sitecheck.wide_code_cells(page)
            browser.close()
    finally:
        server.shutdown()
    assert len(problems) == 1  # only the second cell, named by its longest line
    assert "124 characters" in problems[0] and "yyyy" in problems[0]


@pytest.mark.skipif(
    not (shutil.which("chromium") or shutil.which("chromium-browser")),
    reason="needs Debian's chromium (.ci/run installs it)",
)
def test_sitecheck_flags_wide_outputs_and_what_belongs_on_the_console(tmp_path):
    from playwright.sync_api import sync_playwright

    shutil.copy(REPO / "book" / "_static" / "dynconv-outputs.css", tmp_path)
    wide_table = "<table><tr>" + "<td>calflops_gflops_per_image</td>" * 20 + "</tr></table>"

    def page_html(*cells: str) -> str:
        return ('<html><head><link rel="stylesheet" href="dynconv-outputs.css"></head><body>'
                '<article style="width: 600px">' + "".join(cells) + "</article></body></html>")

    def output(inner: str, kind: str = "text_html", tags: str = "") -> str:
        return (f'<div class="cell {tags}"><div class="cell_output">'
                f'<div class="output {kind}">{inner}</div></div></div>')

    (tmp_path / "styled.html").write_text(page_html(output(wide_table)))
    (tmp_path / "bare.html").write_text(page_html(output(wide_table, kind="other")))
    (tmp_path / "clutter.html").write_text(page_html(
        output("<pre>profile = 'ci'</pre>", tags="tag_injected-parameters"),
        output("<pre>training: 40%</pre>", kind="stderr"),
        output('<div class="widget-hprogress"></div>'),
        output("<p>a table that fits</p>")))
    server, base = sitecheck.serve(tmp_path)
    found = {}
    try:
        with sync_playwright() as pw:
            chromium = shutil.which("chromium") or shutil.which("chromium-browser")
            browser = pw.chromium.launch(executable_path=chromium, args=sitecheck.CHROMIUM_ARGS)
            page = browser.new_page()
            for name in ("styled", "bare", "clutter"):
                page.goto(f"{base}/{name}.html", wait_until="networkidle")
                found[name] = sitecheck.wide_outputs(page), sitecheck.console_only_outputs(page)
            browser.close()
    finally:
        server.shutdown()
    assert found["styled"] == ([], [])  # the book's CSS: the table scrolls in its own box
    wide, _ = found["bare"]
    assert len(wide) == 1 and "wider than the page by" in wide[0]
    wide, clutter = found["clutter"]
    assert wide == []
    assert [p.split(" shown")[0] for p in clutter] == [
        "the parameters cell papermill injects", "text written to stderr", "a progress bar"]
