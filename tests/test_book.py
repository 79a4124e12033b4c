"""The book's own machinery: chapter notebooks, the build keys, widgets, reported numbers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import ipywidgets
import nbformat
import numpy as np
import pytest
from ipywidgets.widgets.widget import _instances
from ipywidgets.widgets.widget_link import Link
from papermill.translators import PythonTranslator
from standins import make_record

import dynconv
from dynconv.book import reported, widgets
from dynconv.booktools import book, sitecheck
from dynconv.channels import ALL_SUBSETS
from dynconv.paths import RESULTS_ENV

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MAX_CODE_LINE = 80  # characters per line of a chapter's code cell


def test_every_toc_chapter_has_a_source_notebook():
    toc = (REPO / "_toc.yml").read_text()
    chapters = {line.split("book/chapters/")[1].strip() for line in toc.splitlines()
                if "file: book/chapters/" in line}
    assert chapters == {nb.stem for nb in NOTEBOOKS}
    assert len(NOTEBOOKS) == 11


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_notebook_is_stripped_and_parametrised(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "outputs not stripped"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged `parameters`"
    names = {p.name for p in PythonTranslator.inspect(tagged[0])}
    assert {"profile", "data_dir"} <= names, f"papermill sees only {names}"
    # Library code lives in dynconv: no chapter defines a class or runs its own training loop.
    source = "\n".join(c.source for c in code)
    assert "\nclass " not in "\n" + source
    assert ".backward(" not in source and "optimizer.step" not in source
    # Code cells fit the page: the rendered code box holds about 88 characters at a 1400 px
    # window (longer lines scroll sideways; the site check measures the real boxes).
    long = [line for line in source.splitlines() if len(line) > MAX_CODE_LINE]
    assert not long, f"{len(long)} code line(s) over {MAX_CODE_LINE} characters: {long[0]!r}"


def test_chapter_key_changes_with_parameters_and_source(tmp_path):
    nb = tmp_path / "01_x.ipynb"
    nb.write_text("{}")
    key = book.chapter_key(nb, {"profile": "ci", "data_dir": None})
    assert key == book.chapter_key(nb, {"profile": "ci", "data_dir": None})
    assert key != book.chapter_key(nb, {"profile": "full", "data_dir": None})
    nb.write_text('{"cells": []}')
    assert key != book.chapter_key(nb, {"profile": "ci", "data_dir": None})


def test_chapter_key_hashes_the_imported_library_without_the_booktools():
    """The hashed files are those of the imported package (``dynconv.__path__``), not of a
    repository path, and none of them is build tooling."""
    package = Path(dynconv.__file__).resolve().parent
    names = [name for name, _ in book.library_sources()]
    assert {"__init__.py", "stems/common.py", "paths.py"} <= set(names)
    assert not [n for n in names if n.startswith("booktools")], "the build tooling is hashed"
    assert names == sorted(
        p.relative_to(package).as_posix() for p in package.rglob("*.py")
        if p.relative_to(package).parts[0] != "booktools"
    )


def test_editing_the_booktools_keeps_chapter_keys_editing_the_library_changes_them(
    tmp_path, monkeypatch
):
    """On a copy of the package (``dynconv.__path__`` pointed at it): the site check, the
    Sphinx extension and the build script can change without executing a chapter again; a
    library module cannot."""
    copy = tmp_path / "site" / "dynconv"
    shutil.copytree(Path(dynconv.__file__).resolve().parent, copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(dynconv, "__path__", [str(copy)])
    nb = tmp_path / "01_x.ipynb"
    nb.write_text("{}")
    parameters = {"profile": "ci", "data_dir": None}
    key = book.chapter_key(nb, parameters)
    assert all(path.is_relative_to(copy) for _, path in book.library_sources())

    for name in ("sitecheck.py", "sphinxext.py", "book.py", "__init__.py"):
        with open(copy / "booktools" / name, "a") as f:
            f.write("\n# edited\n")
    (copy / "booktools" / "new_tool.py").write_text("X = 1\n")
    assert book.chapter_key(nb, parameters) == key, "editing the build tooling re-executes"

    with open(copy / "stems" / "v1.py", "a") as f:
        f.write("\n# edited\n")
    edited = book.chapter_key(nb, parameters)
    assert edited != key, "editing dynconv/stems/ must execute the chapters again"
    (copy / "new_module.py").write_text("X = 1\n")
    assert book.chapter_key(nb, parameters) != edited


def _fake_book(root: Path, chapters: tuple[str, ...] = ("01_a", "02_b")) -> Path:
    (root / "notebooks").mkdir(parents=True)
    (root / "_toc.yml").write_text("root: book/intro\n")
    for name in chapters:
        (root / "notebooks" / f"{name}.ipynb").write_text("{}")
    return root


def test_the_book_root_is_found_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO / "notebooks")
    assert book.find_root() == REPO
    assert book.BookLayout.find().chapters == REPO / "book" / "chapters"
    other = _fake_book(tmp_path / "other")
    assert book.find_root(other) == other.resolve()  # --root wins over the working directory

    monkeypatch.chdir(tmp_path)
    with pytest.raises(book.BookRootError, match="run from the book's folder or pass --root"):
        book.find_root()
    with pytest.raises(book.BookRootError, match="not the book's folder"):
        book.find_root(tmp_path)


@pytest.mark.parametrize("argv", [["execute"], ["vendor"], ["execute", "--profile", "full"]])
def test_the_command_line_outside_a_book_says_what_to_do(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        book.main(argv)
    assert exit_.value.code == 2
    assert "run from the book's folder or pass --root" in capsys.readouterr().err


def test_execute_runs_changed_chapters_with_the_book_results_folder(tmp_path, monkeypatch):
    """papermill is replaced by a fake that records what a kernel would see."""
    import papermill

    root = _fake_book(tmp_path / "my book").resolve()
    calls: list[dict] = []

    def fake_execute(source, output, *, parameters, cwd, **kwargs):
        calls.append({"chapter": Path(source).stem, "cwd": cwd, "parameters": parameters,
                      "results": os.environ.get(RESULTS_ENV)})
        Path(output).write_text("{}")

    prepared: list[dict] = []

    def fake_prepare(profile, data_dir, **kwargs):  # the records: tested in test_book_records
        prepared.append({"profile": profile, "results": os.environ.get(RESULTS_ENV), **kwargs})
        return []

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    monkeypatch.setattr(book, "prepare", fake_prepare)
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    monkeypatch.chdir(root / "notebooks")  # a subfolder of the book: the root is found upwards

    runs = book.execute_chapters("ci")
    assert [c["chapter"] for c in calls] == ["01_a", "02_b"]
    # the records are prepared first, in the results folder the kernels are given
    assert prepared[0]["records"] == "auto" and prepared[0]["force"] is False
    results = str(root / "book" / "results")
    assert prepared[0]["results"] == str(prepared[0]["results_dir"]) == results
    assert {c["results"] for c in calls} == {str(root / "book" / "results")}
    assert {c["cwd"] for c in calls} == {str(root / "notebooks")}
    assert calls[0]["parameters"] == {"profile": "ci", "data_dir": None}
    assert RESULTS_ENV not in os.environ  # set for the kernels only
    assert [r.reused for r in runs] == [False, False]
    layout = book.BookLayout(root)
    assert set(json.loads(layout.keys_file.read_text())) == {"01_a", "02_b"}
    assert "| 02_b | `ci` |" in layout.build_report.read_text()

    calls.clear()
    (root / "notebooks" / "02_b.ipynb").write_text('{"cells": []}')
    monkeypatch.chdir(tmp_path)  # outside the book: --root names it
    assert book.main(["execute", "--root", str(root)]) == 0
    assert [c["chapter"] for c in calls] == ["02_b"]  # 01_a unchanged: reused

    calls.clear()
    monkeypatch.setenv(RESULTS_ENV, "elsewhere")  # an explicit choice is kept, made absolute
    assert book.main(["--root", str(root), "execute", "--force", "--only", "01_a"]) == 0
    assert calls == [{"chapter": "01_a", "cwd": str(root / "notebooks"),
                      "parameters": {"profile": "ci", "data_dir": None},
                      "results": str(tmp_path.resolve() / "elsewhere")}]
    assert os.environ[RESULTS_ENV] == "elsewhere"


@pytest.mark.processes
def test_importing_the_library_does_not_import_the_booktools():
    code = (
        "import sys\n"
        "import dynconv, dynconv.experiments.runner, dynconv.models.zoo, dynconv.training.loop\n"
        "tools = sorted(m for m in sys.modules if m.startswith('dynconv.booktools'))\n"
        "assert not tools, tools\n"
        "assert 'dynconv.stems' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.processes
def test_the_package_works_installed_without_editable_mode(tmp_path):
    """``pip install --target`` (a regular, non-editable install of a copy of the sources),
    then, from a folder outside any book: the library, the build tooling and its digest come
    from the install, and the tooling asks for the book's folder instead of guessing one."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "dynconv", source / "dynconv",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), str(source)],
        check=True, capture_output=True, timeout=120,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import dynconv, dynconv.paths\n"
        "import dynconv.booktools.book as book\n"
        f"target = Path({str(target.resolve())!r})\n"
        "assert Path(dynconv.__file__).resolve().is_relative_to(target), dynconv.__file__\n"
        "assert Path(book.__file__).resolve().is_relative_to(target), book.__file__\n"
        "files = [p for _, p in book.library_sources()]\n"
        "assert files and all(p.resolve().is_relative_to(target) for p in files), files\n"
        "assert dynconv.paths.find_book_root() is None\n"
        "book.main(['execute'])\n"  # exits 2 with the message: no book here
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "run from the book's folder or pass --root" in result.stderr


def test_choice_stack_switches_panels_in_the_browser_with_jslink():
    panels = {name: ipywidgets.HTML(value=f"<p>{name}</p>") for name in ("RGB", "RG", "B")}
    box = widgets.choice_stack(panels, description="channels")
    buttons, stack = box.children
    assert list(buttons.options) == ["RGB", "RG", "B"]
    assert [p.value for p in stack.children] == ["<p>RGB</p>", "<p>RG</p>", "<p>B</p>"]
    assert "dynconv-explorer" in box._dom_classes
    links = [w for w in _instances.values() if isinstance(w, Link) and w.source[0] is buttons]
    assert links and links[-1].source[1] == "index"
    assert links[-1].target == (stack, "selected_index")
    # Live, the link is client-side only; the selected index still follows the value.
    buttons.value = "B"
    assert buttons.index == 2


def test_records_explorer_builds_one_panel_per_model_and_subset():
    labels = [0, 1, 2, 0]
    records = {
        name: make_record({"RGB": [0, 1, 2, 2], "RG": [0, 0, 0, 0]}, labels, label=name)
        for name in ("a", "b")
    }
    images = np.zeros((4, 3, 8, 8), dtype=np.uint8)
    explorer = widgets.records_explorer(records, images, ["x", "y", "z"])
    models, stack = explorer.children
    assert list(models.options) == ["a", "b"]
    inner_buttons, inner_stack = stack.children[0].children
    assert list(inner_buttons.options) == ["RGB", "RG"]
    html = inner_stack.children[1].value
    assert "data:image/png;base64," in html and "tested on RG" in html
    assert "75.0%" in inner_stack.children[0].value  # RGB: 3 of 4, with its interval
    with pytest.raises(ValueError, match="tested on 4"):
        widgets.records_explorer(records, images[:3], ["x", "y", "z"])


def test_zero_fill_models_are_the_plain_networks():
    from dynconv.models.zoo import MODEL_NAMES, build_model

    plain = {n for n in MODEL_NAMES if build_model(n, num_classes=3).input_mode == "zero"}
    assert plain == set(widgets.ZERO_FILL_MODELS)


def test_reported_tables_match_the_report():
    costs = reported.part1_costs()
    assert costs.attrs["source"] == reported.SOURCE
    # per batch of 64 -> per image
    assert costs.loc["resnet18", "gflops_per_image"] == pytest.approx(135.887 / 64)
    # every reported test accuracy is a whole number of the 450 test images (rounded to 0.01%)
    acc = reported.part1_subset_accuracy().to_numpy().ravel()
    assert np.allclose(np.round(acc / 100 * 450), acc / 100 * 450, atol=0.03)
    assert list(reported.part1_subset_accuracy().columns) == [s.name for s in ALL_SUBSETS]


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


def test_build_report_lists_every_chapter(tmp_path):
    from dynconv.provenance import hardware_label

    runs = [book.ChapterRun("01_data", 3.0, False, "ci", None, "2026-01-01T00:00:00"),
            book.ChapterRun("02_baseline", 80.0, True, "ci", None, "2026-01-01T00:01:00")]
    book.write_build_report(runs, tmp_path / "report.md")
    text = (tmp_path / "report.md").read_text()
    assert f", {hardware_label()}, " in text  # the machine, named as results records name it
    assert "| 01_data | `ci` | built-in shapes | 3.0 | yes |" in text
    assert "| 02_baseline | `ci` | built-in shapes | 80.0 | no (reused) |" in text
    assert "83 s" in text  # total of the producing runs
    json.dumps([r.__dict__ for r in runs])  # ChapterRun stays JSON-ready


def test_package_tests_and_chapters_are_ruff_clean():
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed next to this Python (install the `test` extra)")
    result = subprocess.run([str(ruff), "check", "dynconv", "tests", "notebooks"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


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
