"""Check the built site in a real browser: `python -m dynconv.booktools.sitecheck _build/html`.

Build tooling, not part of the library (see :mod:`dynconv.booktools`); `make check-site` runs it.
Without a site argument it checks ``_build/html`` of the book found from the working directory
upwards (or named with ``--root``).

Serves the site on 127.0.0.1, opens every page (the root redirect, the prose pages, every
chapter, the index and search pages) in headless Chromium (Debian's
``chromium``, driven by Playwright without any browser download) and fails when a page

- logs a console error or throws a JavaScript error (a missing favicon counts),
- requests anything from another host (the site must work offline),
- (chapter pages) has no figure in its content,
- (chapter pages) has a code cell wider than its box (the reader would scroll sideways),
- (chapter pages) has a cell output that runs past the right edge of the text column (a wide
  table must scroll inside its own box, book/_static/dynconv-outputs.css),
- (chapter pages) shows the parameters cell papermill injects, text written to stderr or a
  progress bar (they belong on the build's console, :mod:`dynconv.book.progress`), or
- (explorer pages) does not change what is shown when a channel-subset button is clicked.

A screenshot of one explorer is kept with ``--screenshot``.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

from dynconv.booktools.book import BookRootError, find_root

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the CI log readable
        pass

    def log_request(self, code="-", size="-") -> None:
        status = code if isinstance(code, int) else 0  # HTTPStatus is an int
        self.server.requests.append((urlparse(self.path).path, status))

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):  # the browser navigated away mid-reply
            pass


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve `root` on a free localhost port in a background thread.

    ``server.requests`` lists every request as ``(path, status)``, including the ones the
    browser makes on its own (``/favicon.ico``), which Playwright's request events do not
    report, and the ones answered after the browser has left the page.
    """
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def error_answers(requests: list[tuple[str, int]]) -> list[str]:
    return [f"server: {path} answered {status}" for path, status in requests if status >= 400]


def chapter_pages(site: Path) -> list[str]:
    return sorted(str(p.relative_to(site)) for p in (site / "book" / "chapters").glob("*.html"))


def site_pages(site: Path) -> list[str]:
    """Every HTML page of the site, the root redirect first (theme assets excluded)."""
    pages = sorted(
        str(p.relative_to(site))
        for p in site.rglob("*.html")
        if not p.relative_to(site).parts[0].startswith("_")
    )
    pages.remove("index.html")
    return ["index.html", *pages]


def check_page(page, url: str, *, needs_figure: bool = True) -> list[str]:
    """Open one page and return the problems found on it."""
    problems: list[str] = []
    host = urlparse(url).netloc
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"javascript error: {e}"))
    page.on(
        "request",
        lambda r: (
            problems.append(f"request to another host: {r.url}")
            if urlparse(r.url).scheme in ("http", "https") and urlparse(r.url).netloc != host
            else None
        ),
    )
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    response = page.goto(url, wait_until="networkidle")
    if response is None or not response.ok:
        problems.append(f"HTTP status {response.status if response else 'none'}")
    page.wait_for_timeout(500)
    figures = page.locator("main img, article img").count()
    if needs_figure and figures == 0:
        problems.append("no figure on the page")
    return problems


# The longest line of every code-cell input that does not fit its box (scrolls sideways).
_OVERFLOWING_CODE = """els => els.filter(e => e.scrollWidth > e.clientWidth + 1).map(
    e => e.textContent.split("\\n").reduce((a, b) => (b.length > a.length ? b : a), ""))"""


def wide_code_cells(page) -> list[str]:
    """A problem for each code cell of the open page that scrolls sideways."""
    lines = page.eval_on_selector_all("div.cell_input pre", _OVERFLOWING_CODE)
    return [f"code cell wider than the page ({len(line)} characters): {line.strip()[:60]}"
            for line in lines]


# By how much each cell output spills past its box. A scroll container inside it (a wide table
# in its own scrolling box) does not count: scrollWidth only includes content left visible.
_SPILLING_OUTPUTS = """els => els.filter(e => getComputedStyle(e).overflowX === "visible")
    .map(e => e.scrollWidth - e.clientWidth).filter(d => d > 1)"""


# What a reader should not see on a chapter page: (CSS selector, what it is).
CONSOLE_ONLY = (
    (".cell.tag_injected-parameters", "the parameters cell papermill injects"),
    (".cell_output .output.stderr", "text written to stderr"),
    (".widget-progress, .widget-hprogress, progress", "a progress bar"),
)


def wide_outputs(page) -> list[str]:
    """A problem for each cell output of the open page that runs past the text column."""
    overflows = page.eval_on_selector_all("div.cell_output", _SPILLING_OUTPUTS)
    return [f"cell output wider than the page by {px} px (it should scroll in its own box)"
            for px in overflows]


def console_only_outputs(page) -> list[str]:
    """A problem for each kind of :data:`CONSOLE_ONLY` content shown on the open page."""
    problems = []
    for selector, what in CONSOLE_ONLY:
        count = page.locator(selector).count()
        if count:
            problems.append(f"{what} shown on the page ({count}x): it belongs on the console")
    return problems


def check_explorer(page, screenshot: Path | None) -> list[str]:
    """Click a different channel button in an explorer and see the panel change.

    Uses the first explorer with at least two buttons (v1's has one: it serves RGB only).
    """
    explorers = page.locator(".dynconv-explorer")
    explorers.first.wait_for(state="visible", timeout=15_000)
    candidates = [explorers.nth(i) for i in range(explorers.count())]
    candidates = [e for e in candidates if e.locator(".widget-toggle-button").count() >= 2]
    if not candidates:
        return []
    explorer = candidates[0]
    buttons = explorer.locator(".widget-toggle-button")
    visible_panel = explorer.locator(".widget-html-content:visible").first
    before = visible_panel.inner_html()
    # the last button of the innermost selector: a channel subset such as "B"
    clicked = buttons.nth(buttons.count() - 1)
    clicked.click()
    page.wait_for_timeout(500)
    after = explorer.locator(".widget-html-content:visible").first.inner_html()
    if "mod-active" not in (clicked.get_attribute("class") or ""):
        return ["the clicked channel button did not become the selected one"]
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        explorer.screenshot(path=str(screenshot))
    return [] if after != before else ["clicking a channel button did not change the panel"]


def main(argv: list[str] | None = None) -> int:
    """The command line; returns 0 when every page passes, 1 otherwise."""
    parser = argparse.ArgumentParser(prog="python -m dynconv.booktools.sitecheck")
    parser.add_argument(
        "site",
        type=Path,
        nargs="?",
        default=None,
        help="the built site (default: _build/html of the book's folder)",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="the book's folder (default: found from the working directory upwards)",
    )
    parser.add_argument("--screenshot", type=Path, default=None)
    parser.add_argument(
        "--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser")
    )
    args = parser.parse_args(argv)
    if args.site is None:
        try:
            args.site = find_root(args.root) / "_build" / "html"
        except BookRootError as error:
            parser.error(str(error))
    if not (args.site / "index.html").exists():
        parser.error(f"{args.site}/index.html not found: run `make book` first")
    if not args.chromium:
        parser.error("no `chromium` on PATH: install Debian's package (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    server, base = serve(args.site)
    pages = site_pages(args.site)
    chapters = set(chapter_pages(args.site))
    failures: dict[str, list[str]] = {}
    explorers = checked = 0  # checked: server.requests already attributed to a page
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        for rel in pages:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            problems = check_page(page, f"{base}/{rel}", needs_figure=rel in chapters)
            if rel in chapters:
                problems += wide_code_cells(page) + wide_outputs(page)
                problems += console_only_outputs(page)
            if page.locator(".dynconv-explorer").count():
                shot = args.screenshot if explorers == 0 else None
                problems += check_explorer(page, shot)
                explorers += 1
            # a late answer to the previous page lands here: still flagged
            problems += error_answers(server.requests[checked:])
            checked = len(server.requests)
            print(f"[site] {rel}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
            if problems:
                failures[rel] = problems
            page.close()
        browser.close()
    server.shutdown()
    if late := error_answers(server.requests[checked:]):  # in flight when the last page closed
        failures[pages[-1]] = [*failures.get(pages[-1], []), *late]
    for rel, problems in failures.items():
        for problem in problems:
            print(f"  {rel}: {problem}")
    if explorers == 0:
        print("[site] no explorer widget found on any chapter page")
        return 1
    print(f"[site] {len(pages)} pages, {explorers} explorers, {len(failures)} with problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
