"""dynconv.booktools.book: the chapter keys, the book root, the command line, the execution of
changed chapters, the build report, and the package apart from its build tools."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import dynconv
from dynconv.book.progress import PROGRESS_ENV
from dynconv.booktools import book
from dynconv.paths import RESULTS_ENV

REPO = Path(__file__).resolve().parents[1]

def _fake_book(root: Path, chapters: tuple[str, ...] = ("01_a", "02_b")) -> Path:
    (root / "notebooks").mkdir(parents=True)
    (root / "_toc.yml").write_text("root: book/intro\n")
    for name in chapters:
        (root / "notebooks" / f"{name}.ipynb").write_text("{}")
    return root


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
        nbformat.write(_executed(parameters), output)

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


def test_jobs_execute_chapters_at_once_and_a_failure_stops_the_rest(tmp_path, monkeypatch):
    """--jobs 2: two chapters run at the same time (a barrier that two calls must reach
    together, else it times out), the runs come back in chapter order and the report says
    they shared the machine; a failing chapter raises and no chapter starts after it."""
    import threading

    import papermill

    root = _fake_book(tmp_path / "book", chapters=("01_a", "02_b", "03_c", "04_d")).resolve()
    monkeypatch.delenv(book.THREADS_ENV, raising=False)
    both_running = threading.Barrier(2, timeout=20)
    threads: list[str | None] = []

    def fake_execute(source, output, *, parameters, **kwargs):
        threads.append(os.environ.get(book.THREADS_ENV))
        if Path(source).stem in ("01_a", "02_b"):
            both_running.wait()  # BrokenBarrierError unless the other chapter runs too
        nbformat.write(_executed(parameters), output)

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    monkeypatch.setattr(book, "prepare", lambda *args, **kwargs: [])
    runs = book.execute_chapters("ci", root=root, only=["01_a", "02_b"], jobs=2)
    assert [r.name for r in runs] == ["01_a", "02_b"]
    assert [r.at_once for r in runs] == [2, 2]
    # each kernel gets its share of the cores, for the kernels only
    assert threads == [str(max(1, (os.cpu_count() or 1) // 2))] * 2
    assert book.THREADS_ENV not in os.environ
    report = book.BookLayout(root).build_report.read_text()
    assert "Executed 2 at a time (`--jobs`)" in report and "01_a, 02_b" in report

    started: list[str] = []

    def failing_execute(source, output, *, parameters, **kwargs):
        started.append(Path(source).stem)
        threads.append(os.environ.get(book.THREADS_ENV))
        if Path(source).stem == "03_c":
            raise RuntimeError("a cell failed in 03_c")
        nbformat.write(_executed(parameters), output)

    monkeypatch.setattr(papermill, "execute_notebook", failing_execute)
    with pytest.raises(RuntimeError, match="a cell failed in 03_c"):
        book.execute_chapters("ci", root=root, only=["03_c", "04_d"], force=True, jobs=1)
    assert started == ["03_c"]  # 04_d never started
    assert threads[-1] is None  # jobs=1: the kernels' threads are left alone
    times = json.loads(book.BookLayout(root).times_file.read_text())
    assert set(times) == {"01_a", "02_b"}  # only chapters that finished are recorded
    with pytest.raises(ValueError, match="at least 1"):
        book.execute_chapters("ci", root=root, jobs=0)
    with pytest.raises(SystemExit):
        book.main(["execute", "--root", str(root), "--jobs", "0"])


def test_the_benchmark_is_queued_first_and_its_readers_last(tmp_path, monkeypatch):
    """Measured inside the first chapter that reads it, the other readers would wait on its
    lock holding a job: the build queues it first, the chapters that read it last."""
    import threading

    import papermill

    root = _fake_book(tmp_path / "book", chapters=("01_a", "02_b", "03_c")).resolve()
    (root / "notebooks" / "01_a.ipynb").write_text(
        '{"cells": [{"source": "result = bench.cached_benchmark(bench.settings_for(p))"}]}')
    events: list[str] = []
    beside = threading.Barrier(2, timeout=20)  # the benchmark runs beside a chapter

    def fake_execute(source, output, *, parameters, **kwargs):
        events.append(Path(source).stem)  # when it starts: the queue's order
        if Path(source).stem == "02_b":
            beside.wait()
        nbformat.write(_executed(parameters), output)

    def fake_benchmark(profile):
        events.append(f"benchmark ({profile})")
        beside.wait()

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    monkeypatch.setattr(book, "prepare", lambda *args, **kwargs: [])
    monkeypatch.setattr(book, "prepare_benchmark", fake_benchmark)
    runs = book.execute_chapters("smoke", root=root, jobs=2)
    assert [r.name for r in runs] == ["01_a", "02_b", "03_c"]  # reported in chapter order
    assert events[-1] == "01_a" and "benchmark (smoke)" in events  # its reader started last
    events.clear()
    book.execute_chapters("smoke", root=root, only=["03_c"], force=True)
    assert events == ["03_c"]  # no chapter to execute reads it: nothing measured

    def broken_benchmark(profile):
        raise RuntimeError("the benchmark failed")

    monkeypatch.setattr(book, "prepare_benchmark", broken_benchmark)
    with pytest.raises(RuntimeError, match="the benchmark failed"):
        book.execute_chapters("smoke", root=root, only=["01_a"], force=True)


def test_the_chapters_that_read_the_benchmark_are_found_in_their_source():
    notebooks = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    readers = [nb.stem for nb in notebooks if book.reads_benchmark(nb)]
    assert readers == ["08_costs", "09_part2", "10_part3"]


def _executed(parameters: dict) -> nbformat.NotebookNode:
    """An executed chapter as papermill writes it: the chapter's parameters cell, then the
    cell papermill injects after it."""
    own = nbformat.v4.new_code_cell('profile = "ci"', metadata={"tags": ["parameters"]})
    injected = nbformat.v4.new_code_cell(
        "# Parameters\n" + "\n".join(f"{k} = {v!r}" for k, v in parameters.items()),
        metadata={"tags": ["injected-parameters"]})
    return nbformat.v4.new_notebook(cells=[own, injected, nbformat.v4.new_code_cell("1")])


def test_the_site_hides_the_injected_parameters_and_the_kernels_send_progress_to_the_console(
        tmp_path, monkeypatch):
    import papermill

    root = _fake_book(tmp_path / "book", chapters=("01_a",)).resolve()
    seen: list[str | None] = []

    def fake_execute(source, output, *, parameters, **kwargs):
        seen.append(os.environ.get(PROGRESS_ENV))
        nbformat.write(_executed(parameters), output)

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    monkeypatch.setattr(book, "prepare", lambda *args, **kwargs: [])
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    book.execute_chapters("ci", root=root, output=tmp_path / "out")
    assert seen == ["console"] and PROGRESS_ENV not in os.environ  # for the kernels only
    cells = nbformat.read(tmp_path / "out" / "01_a.ipynb", as_version=4).cells
    assert [c.metadata.get("tags", []) for c in cells] == [
        ["parameters"], ["injected-parameters", "remove-cell"], []]
    # tagging twice adds nothing; an explicit choice of the variable is kept
    assert book.hide_injected_parameters(tmp_path / "out" / "01_a.ipynb") == 0
    monkeypatch.setenv(PROGRESS_ENV, "page")
    book.execute_chapters("ci", root=root, output=tmp_path / "out", force=True)
    assert seen[-1] == "page"


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
    assert "at a time" not in text  # one after another: no line about shared cores
    json.dumps([r.__dict__ for r in runs])  # ChapterRun stays JSON-ready
