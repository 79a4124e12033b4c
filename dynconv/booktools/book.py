"""Build the book: execute the chapter notebooks, vendor the site's JavaScript, report timings.

Build tooling, not part of the library (see :mod:`dynconv.booktools`). `make book` calls this
module in three steps, from the book's root folder::

    python -m dynconv.booktools.book execute --profile ci [--data-dir DIR]  # -> book/chapters/
    python -m dynconv.booktools.book vendor             # require.js, widget manager, MathJax,
                                                        # and the cost table of "How to run"
    jupyter-book build . -W -n --keep-going             # render only (execute_notebooks: off)

The book is the nearest folder, from the working directory upwards, that holds ``_toc.yml`` and
``notebooks/`` (:func:`dynconv.paths.find_book_root`); ``--root PATH`` names it instead. Nothing
is located relative to where ``dynconv`` is installed, so the tools work the same from an
editable checkout and from a wheel.

Execution is skipped for a chapter whose source notebook, library sources and parameters are
unchanged since its last successful run (a key stored in ``book/chapters/.build-keys.json``), so a
second ``make book`` with nothing changed only re-renders. The library sources are the ``*.py``
files of the imported ``dynconv`` package, without this ``booktools`` subpackage: editing the build
tooling or the site check does not execute the chapters again. Experiments inside a chapter are
cached separately by their configuration (see :mod:`dynconv.experiments.runner`). A failing cell
fails the build. The chapters' kernels get ``DYNCONV_RESULTS_DIR=<book root>/results``, unless the
variable is already set (then its value, made absolute), and ``DYNCONV_PROGRESS=console``
(unless set): progress bars and timings go to this build's console, not onto the pages
(:mod:`dynconv.book.progress`). In each executed chapter, the parameters cell papermill injects
is tagged ``remove-cell``, so the site shows the chapter's own parameters cell only (the
executed notebook keeps both).

Nothing here is downloaded at run time except the vendored npm packages, fetched once from the npm
registry with ``npm pack`` and kept in ``book/_static/vendor`` (ignored by git).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

import dynconv
from dynconv.bench import benchmark as bench
from dynconv.book.progress import CONSOLE, PROGRESS_ENV
from dynconv.booktools.pagecost import book_costs_markdown
from dynconv.booktools.records import RECORD_MODES, PlannedRun, prepare
from dynconv.config import PROFILES
from dynconv.errors import DynconvError
from dynconv.fileio import atomic_write_json, atomic_write_text, read_json
from dynconv.paths import (
    BOOK_ROOT_MARKERS,
    RESULTS_ENV,
    RESULTS_IN_BOOK,
    find_book_root,
    shown_path,
)
from dynconv.provenance import hardware_label

# This subpackage's folder name inside `dynconv`: its sources are not part of a chapter's key.
TOOLS_SUBPACKAGE = "booktools"

# papermill's tag on the cell it injects; myst-nb leaves a cell tagged remove-cell off the page
INJECTED_TAG = "injected-parameters"
HIDDEN_ON_SITE_TAG = "remove-cell"
# the threads each kernel's PyTorch (OpenMP) starts, set when chapters execute side by side
THREADS_ENV = "OMP_NUM_THREADS"

# npm packages vendored into the site (name, version, files to keep: tarball path -> vendor path).
VENDORED_PACKAGES = {
    "requirejs": ("2.3.8", {"package/require.js": "require.js"}),
    "@jupyter-widgets/html-manager": ("1.0.15", {"package/dist/": "html-manager/"}),
    "mathjax": (
        "3.2.2",
        {
            "package/es5/tex-chtml.js": "mathjax/tex-chtml.js",
            "package/es5/output/": "mathjax/output/",
        },
    ),
}


class BookRootError(FileNotFoundError):
    """No book root: neither found upwards from the working directory nor given correctly."""


def find_root(root: str | os.PathLike | None = None) -> Path:
    """The book's root folder: ``root`` if given (it must hold ``_toc.yml`` and ``notebooks/``),
    else the nearest such folder at or above the working directory.

    Raises :class:`BookRootError` when there is none.
    """
    if root is not None:
        path = Path(root).expanduser().resolve()
        missing = [marker for marker in BOOK_ROOT_MARKERS if not (path / marker).exists()]
        if missing:
            raise BookRootError(
                f"--root {path} is not the book's folder: it has no {' and no '.join(missing)}"
            )
        return path
    found = find_book_root()
    if found is None:
        raise BookRootError(
            f"no book found in {Path.cwd()} or above it (a folder holding "
            f"{' and '.join(BOOK_ROOT_MARKERS)}): run from the book's folder or pass --root"
        )
    return found


@dataclass(frozen=True)
class BookLayout:
    """Where the build reads and writes, every path under the book's root."""

    root: Path

    @classmethod
    def find(cls, root: str | os.PathLike | None = None) -> BookLayout:
        """The layout of the book at ``root``, or of the one found from the working directory."""
        return cls(find_root(root))

    @property
    def notebooks(self) -> Path:
        """The chapter sources (outputs stripped)."""
        return self.root / "notebooks"

    @property
    def chapters(self) -> Path:
        """The executed chapters, which Jupyter Book renders."""
        return self.root / "book" / "chapters"

    @property
    def vendor(self) -> Path:
        """The vendored JavaScript of the site."""
        return self.root / "book" / "_static" / "vendor"

    @property
    def build_report(self) -> Path:
        """The build report page."""
        return self.root / "book" / "build-report.md"

    @property
    def costs_table(self) -> Path:
        """The book's cost table, computed from the records and included by "How to run"."""
        return self.root / "book" / "_generated" / "book-costs.md"

    @property
    def keys_file(self) -> Path:
        """Each chapter's key at its last successful run."""
        return self.chapters / ".build-keys.json"

    @property
    def times_file(self) -> Path:
        """Each chapter's last successful run (a :class:`ChapterRun` as a dict)."""
        return self.chapters / "build-times.json"

    @property
    def results(self) -> Path:
        """The results folder the chapters' kernels are given (``DYNCONV_RESULTS_DIR``)."""
        return self.root / RESULTS_IN_BOOK


@dataclass(frozen=True)
class ChapterRun:
    """What happened to one chapter in this build."""

    name: str
    seconds: float  # execution wall time of the run that produced the page
    reused: bool  # True: nothing changed since that run, so it was not executed again
    profile: str
    data_dir: str | None
    finished: str  # ISO time the producing run finished
    at_once: int = 1  # chapters executing at the same time in that run (`--jobs`)


def library_sources() -> list[tuple[str, Path]]:
    """The library's sources as ``(path inside the package, file)``, sorted: every ``*.py`` of
    the imported ``dynconv`` package (found through ``dynconv.__path__``, wherever it is
    installed), without the ``booktools`` subpackage."""
    files: dict[str, Path] = {}
    for base in map(Path, dynconv.__path__):
        for path in base.rglob("*.py"):
            relative = path.relative_to(base)
            if relative.parts[0] == TOOLS_SUBPACKAGE:
                continue
            files.setdefault(relative.as_posix(), path)
    return sorted(files.items())


def sources_digest() -> str:
    """A hash of :func:`library_sources`: names and contents."""
    digest = hashlib.sha256()
    for name, path in library_sources():
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def chapter_key(notebook: Path, parameters: dict, *, sources: str | None = None) -> str:
    """A key that changes when the chapter, the library or the parameters change.

    ``sources`` is :func:`sources_digest`, computed when not given (pass it to hash the
    library once for many chapters).
    """
    digest = hashlib.sha256(Path(notebook).read_bytes())
    digest.update((sources if sources is not None else sources_digest()).encode())
    digest.update(json.dumps(parameters, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _load_json(path: Path) -> dict:
    return read_json(path) if path.exists() else {}


@contextmanager
def _results_env(results: Path) -> Iterator[Path]:
    """Give the kernels started inside (they inherit this process's environment)
    ``DYNCONV_RESULTS_DIR=results``, or the caller's own value made absolute (the kernels run
    in ``notebooks/``); restore the environment after. Yields the folder the chapters use."""
    previous = os.environ.get(RESULTS_ENV)
    chosen = Path(previous).expanduser().resolve() if previous else results
    os.environ[RESULTS_ENV] = str(chosen)
    try:
        yield chosen
    finally:
        if previous is None:
            os.environ.pop(RESULTS_ENV, None)
        else:
            os.environ[RESULTS_ENV] = previous


@contextmanager
def _progress_env() -> Iterator[str]:
    """Give the kernels started inside ``DYNCONV_PROGRESS=console`` (progress on this build's
    console, not on the pages), unless the caller set the variable; restore it after. Yields
    the value the chapters get."""
    previous = os.environ.get(PROGRESS_ENV)
    os.environ[PROGRESS_ENV] = previous or CONSOLE
    try:
        yield os.environ[PROGRESS_ENV]
    finally:
        if previous is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = previous


@contextmanager
def _threads_env(jobs: int) -> Iterator[None]:
    """With ``jobs`` > 1, give the kernels started inside ``OMP_NUM_THREADS`` = this machine's
    cores / ``jobs`` (unless the caller set it), restored after.

    Every kernel's PyTorch otherwise starts one thread per core, and ``jobs`` kernels then
    run more threads than there are cores: measured on this 2-core CPU, two chapters at once
    took 237 s and 255 s where they take 17 s and 109 s alone.
    """
    previous = os.environ.get(THREADS_ENV)
    if jobs > 1 and previous is None:
        os.environ[THREADS_ENV] = str(max(1, (os.cpu_count() or 1) // jobs))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(THREADS_ENV, None)


def hide_injected_parameters(path: str | os.PathLike) -> int:
    """Tag the cells papermill injected into the executed notebook at ``path``
    (:data:`INJECTED_TAG`) with :data:`HIDDEN_ON_SITE_TAG`, so that the site shows only the
    chapter's own parameters cell; returns how many cells were tagged (rewritten in place
    when there are any)."""
    import nbformat  # with papermill: the `book` extra

    notebook = nbformat.read(str(path), as_version=4)
    count = 0
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if INJECTED_TAG in tags and HIDDEN_ON_SITE_TAG not in tags:
            cell.metadata["tags"] = [*tags, HIDDEN_ON_SITE_TAG]
            count += 1
    if count:
        nbformat.write(notebook, str(path))
    return count


def execute_chapters(
    profile: str = "ci",
    data_dir: str | None = None,
    *,
    only: list[str] | None = None,
    force: bool = False,
    retrain: Sequence[str] = (),
    records: str = "auto",
    output: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    jobs: int = 1,
) -> list[ChapterRun]:
    """Prepare the records (:func:`dynconv.booktools.records.prepare`: data checked, every
    record loaded or trained, with progress), then execute every chapter notebook with
    papermill, skipping unchanged ones, after the benchmark if a chapter to execute reads it
    (:func:`prepare_benchmark`). The chapters only load records.

    ``force`` retrains every record (and executes every chapter), ``retrain`` names
    experiments to retrain, ``records`` is "auto", "check" or "train" (see
    :mod:`dynconv.booktools.records`). ``output`` is where the executed chapters go (default
    ``book/chapters``, which the site renders). ``root`` is the book's folder (default: found
    from the working directory). ``jobs`` records train at once, then ``jobs`` chapters
    execute at once (each in its own process or kernel; the threads here only wait on them);
    the default 1 trains and executes one after another, in order, which keeps the records'
    wall times, the execution times and the step times a chapter measures free of a second
    one's load. A failing chapter stops
    the build: no further chapter starts, and its error is raised once the ones running
    have finished.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    layout = BookLayout.find(root)
    import papermill  # noqa: F401  (the `book` extra: missing, the build stops before training)
    if data_dir is not None:
        data_dir = str(Path(data_dir).expanduser().resolve())
    parameters = {"profile": profile, "data_dir": data_dir}
    notebooks = sorted(layout.notebooks.glob("[0-9][0-9]_*.ipynb"))
    if only:
        notebooks = [nb for nb in notebooks if nb.stem in only]
    chapters = Path(output).resolve() if output is not None else layout.chapters
    chapters.mkdir(parents=True, exist_ok=True)
    keys_file, times_file = chapters / layout.keys_file.name, chapters / layout.times_file.name
    keys, times = _load_json(keys_file), _load_json(times_file)
    sources = sources_digest()
    runs: dict[str, ChapterRun] = {}
    with _results_env(layout.results) as results, _progress_env():
        planned = prepare(profile, data_dir, records=records, force=force, retrain=retrain,
                          results_dir=results, jobs=jobs)
        # the records' digest: a chapter whose records changed executes again
        sources = hashlib.sha256((sources + _records_digest(planned)).encode()).hexdigest()
        todo: list[tuple[str, Path, str]] = []  # (position "i/n", notebook, key)
        for index, notebook in enumerate(notebooks, start=1):
            position = f"{index}/{len(notebooks)}"
            key = chapter_key(notebook, parameters, sources=sources)
            unchanged = keys.get(notebook.stem) == key and notebook.stem in times
            if not force and (chapters / notebook.name).exists() and unchanged:
                runs[notebook.stem] = ChapterRun(**{**times[notebook.stem], "reused": True})
                print(f"[book] chapter {position} {notebook.stem}: unchanged, "
                      f"reusing the executed copy")
            else:
                todo.append((position, notebook, key))
        readers = {notebook for _, notebook, _ in todo if reads_benchmark(notebook)}
        if jobs > 1:  # the chapters that read the benchmark last: they may wait for it
            todo.sort(key=lambda item: item[1] in readers)
        if jobs > 1 and len(todo) > 1:
            print(f"[book] executing {len(todo)} chapters, {jobs} at a time", flush=True)
        failed = threading.Event()  # set by a failing chapter: the queued ones do not start
        with _threads_env(jobs), ThreadPoolExecutor(max_workers=jobs) as pool:
            # first in the queue: measured (or loaded) once, beside the chapters that do not
            # read it; a chapter that does waits on the benchmark's file lock, then loads it
            benchmark = pool.submit(prepare_benchmark, profile) if readers else None
            futures = {
                pool.submit(_execute_chapter, notebook, chapters / notebook.name,
                            parameters=parameters, cwd=layout.notebooks, failed=failed,
                            position=position, data_label=data_dir or "built-in"):
                (position, notebook, key)
                for position, notebook, key in todo
            }
            for future in as_completed(futures):
                position, notebook, key = futures[future]
                if future.exception() is not None:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise future.exception()
                if future.result() is None:  # not started: another chapter had failed
                    continue
                run = ChapterRun(
                    name=notebook.stem, seconds=future.result(), reused=False,
                    profile=profile, data_dir=data_dir,
                    finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    at_once=min(jobs, len(todo)),
                )
                keys[notebook.stem] = key
                times[notebook.stem] = asdict(run)
                atomic_write_json(keys_file, keys)
                atomic_write_json(times_file, times)
                runs[notebook.stem] = run
                print(f"[book] chapter {position} {notebook.stem}: done in "
                      f"{run.seconds:.0f} s", flush=True)
            if benchmark is not None:
                benchmark.result()  # its error, if every chapter that read it still passed
    ordered = [runs[nb.stem] for nb in notebooks]
    if output is None:
        write_build_report(ordered, layout.build_report, planned=planned)
    return ordered


def reads_benchmark(notebook: Path) -> bool:
    """Whether the chapter ``notebook`` reads the benchmark (calls ``cached_benchmark``)."""
    return "cached_benchmark(" in notebook.read_text(encoding="utf-8")


def prepare_benchmark(profile: str) -> None:
    """Load, or measure once, the benchmark the chapters of ``profile`` read, as the first job
    of the chapters' queue. Measured inside the first chapter that reads it, the chapters
    after it that read it too would hold their share of the cores idle, waiting on its lock;
    queued first, under ``--jobs`` it runs beside the chapters that do not read it
    (``make smoke``, 2 jobs: the benchmark's 11 memory measurements, one fresh process each,
    take about a minute of one core)."""
    start = time.perf_counter()
    result = bench.cached_benchmark(bench.settings_for(profile))
    print(f"[book] benchmark for the chapters: {result.attrs['origin']}, "
          f"{time.perf_counter() - start:.0f} s", flush=True)


def _execute_chapter(notebook: Path, output_path: Path, *, parameters: dict, cwd: Path,
                     failed: threading.Event, position: str, data_label: str) -> float | None:
    """Execute one chapter with papermill into ``output_path`` (a kernel of its own), tag its
    injected parameters cell; returns the wall time in seconds, or None without starting when
    ``failed`` is set (a chapter before it failed; a failure here sets it)."""
    import papermill  # imported here: the `book` extra is not needed by the library

    if failed.is_set():
        return None
    print(f"[book] chapter {position} {notebook.stem}: executing "
          f"(profile={parameters['profile']}, data={data_label})", flush=True)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(str(notebook), str(output_path), parameters=parameters,
                                   kernel_name="python3", cwd=str(cwd), progress_bar=False)
    except BaseException:
        failed.set()
        raise
    hide_injected_parameters(output_path)
    return round(time.perf_counter() - start, 1)


def _records_digest(planned: Sequence[PlannedRun]) -> str:
    """A hash of the record files the chapters will load (name and content)."""
    digest = hashlib.sha256()
    for run in planned:
        digest.update(run.path.name.encode())
        if run.path.exists():
            digest.update(hashlib.sha256(run.path.read_bytes()).digest())
    return digest.hexdigest()


def write_build_report(runs: list[ChapterRun], path: str | os.PathLike, *,
                       planned: Sequence[PlannedRun] = ()) -> Path:
    """Write the build report (``book/build-report.md``) to ``path``: each chapter's execution
    time and what produced it, and which records this build trained or loaded."""
    lines = [
        "# Build report",
        "",
        "This page is generated by `make book` (`python -m dynconv.booktools.book execute`). It",
        "lists how long each chapter took to execute in the run that produced its page. A chapter",
        "marked *reused* was not executed again because neither it, the `dynconv` library nor the",
        "parameters changed since that run.",
        "",
        f"- Machine of this build: {platform.node() or 'unknown'}, {hardware_label()}, "
        f"{os.cpu_count()} logical cores; Python {platform.python_version()}, "
        f"torch {torch.__version__}.",
        f"- Total execution time of the producing runs: {sum(r.seconds for r in runs):.0f} s.",
        *_at_once_line(runs),
        _records_line(planned),
        "",
        "| chapter | profile | data | execution time (s) | executed in this build | finished |",
        "|---|---|---|---:|---|---|",
    ]
    for run in runs:
        data = run.data_dir or "built-in shapes"
        fresh = "no (reused)" if run.reused else "yes"
        cells = [run.name, f"`{run.profile}`", data, f"{run.seconds:.1f}", fresh, run.finished]
        lines.append("| " + " | ".join(cells) + " |")
    return atomic_write_text(path, "\n".join(lines) + "\n")


def _at_once_line(runs: Sequence[ChapterRun]) -> list[str]:
    """A line of the build report, only when some chapters executed beside others."""
    shared = [r.name for r in runs if r.at_once > 1]
    if not shared:
        return []
    return [f"- Executed {max(r.at_once for r in runs)} at a time (`--jobs`), sharing this "
            f"machine's cores, so their times are longer than alone: {', '.join(shared)}."]


def _records_line(planned: Sequence[PlannedRun]) -> str:
    """One line of the build report: how many records were loaded and how many trained."""
    if not planned:
        return "- Records: none checked in this build."
    trained = [r for r in planned if r.stale is not None]
    folder = planned[0].path.parent
    if not trained:
        return (f"- Records: all {len(planned)} loaded from `{shown_path(folder)}`, their keys "
                f"matching: **this build trained nothing**.")
    return (f"- Records: {len(planned) - len(trained)} of {len(planned)} loaded from "
            f"`{shown_path(folder)}`; this build trained {len(trained)}: "
            + ", ".join(r.name for r in trained) + ".")


def write_costs_table(path: str | os.PathLike,
                      results_dir: str | os.PathLike | None = None) -> Path:
    """Write the cost table of every chapter
    (:func:`~dynconv.booktools.pagecost.book_costs_markdown`: profile ``ci``, the built-in data,
    the records under ``results_dir``) to ``path``, the file ``book/how-to-run.md`` includes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, book_costs_markdown(results_dir=results_dir))
    print(f"[book] wrote the cost table of every chapter to {shown_path(path)}")
    return path


def vendor_javascript(target: str | os.PathLike) -> None:
    """Fetch require.js, the widget HTML manager and MathJax from the npm registry into
    ``target`` (the book's ``book/_static/vendor``), once."""
    target = Path(target)
    for package, (version, files) in VENDORED_PACKAGES.items():
        marker = target / f".{package.replace('/', '_')}-{version}"
        if marker.exists():
            continue
        if shutil.which("npm") is None:
            raise RuntimeError(
                "`npm` is needed once to vendor the site's JavaScript (require.js, "
                "@jupyter-widgets/html-manager, mathjax) so the site works offline. "
                "Install Node.js."
            )
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                ["npm", "pack", "--silent", f"{package}@{version}"],
                cwd=tmp,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            (tarball,) = Path(tmp).glob("*.tgz")
            with tarfile.open(tarball) as archive:
                for member in archive.getmembers():
                    for prefix, dest in files.items():
                        if member.isfile() and member.name.startswith(prefix):
                            out = target / (dest + member.name[len(prefix) :])
                            out.parent.mkdir(parents=True, exist_ok=True)
                            with archive.extractfile(member) as src:
                                out.write_bytes(src.read())
        marker.touch()
        print(f"[book] vendored {package}@{version} into {target}")


def _positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    """The command line: ``execute`` or ``vendor``, on the book found from the working
    directory or named with ``--root``."""
    root_help = "the book's folder (default: found from the working directory upwards)"
    parser = argparse.ArgumentParser(
        prog="python -m dynconv.booktools.book", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--root", type=Path, default=None, help=root_help)
    # also accepted after the command; SUPPRESS keeps a --root given before it
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", type=Path, default=argparse.SUPPRESS, help=root_help)
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser(
        "execute", parents=[common], help="execute the chapter notebooks with papermill"
    )
    ex.add_argument("--profile", default="ci", choices=sorted(PROFILES))
    ex.add_argument("--data-dir", default=None, help="a dataset folder in the original list format")
    ex.add_argument("--only", nargs="*", help="chapter names, e.g. 01_data")
    ex.add_argument("--force", action="store_true",
                    help="retrain every record and execute every chapter")
    ex.add_argument("--retrain", nargs="*", default=[],
                    help="experiments to retrain, e.g. v5 v4-sample (dynconv.experiments.registry)")
    ex.add_argument("--records", default="auto", choices=RECORD_MODES,
                    help="stale or missing records: 'check' stops the build, 'train' trains "
                         "them, 'auto' (default) stops when the book ships records for this "
                         "profile and data and trains otherwise")
    ex.add_argument("--output", default=None,
                    help="folder for the executed chapters (default book/chapters)")
    ex.add_argument("--jobs", type=_positive_int, default=1,
                    help="records trained, then chapters executed, at once, each in its own "
                         "process or kernel (default 1: one after another, so a record's or a "
                         "chapter's timings are not shared with another)")
    sub.add_parser(
        "vendor", parents=[common], help="vendor the site's JavaScript from the npm registry "
        "and write the cost table of the 'How to run' page"
    )
    args = parser.parse_args(argv)
    try:
        layout = BookLayout.find(args.root)
    except BookRootError as error:
        parser.error(str(error))
    if args.command == "execute":
        if args.data_dir and not Path(args.data_dir).expanduser().is_dir():
            parser.error(f"--data-dir {args.data_dir!r} is not a folder")
        try:
            execute_chapters(args.profile, args.data_dir or None, only=args.only,
                             force=args.force, retrain=args.retrain, records=args.records,
                             output=args.output, root=layout.root, jobs=args.jobs)
        except DynconvError as error:  # bad data, stale records: the message says what to do
            print(f"\nerror: {type(error).__name__}: {error}", file=sys.stderr)
            return 2
    else:
        env = os.environ.get(RESULTS_ENV)
        write_costs_table(layout.costs_table, Path(env).resolve() if env else layout.results)
        vendor_javascript(layout.vendor)
    return 0


if __name__ == "__main__":
    sys.exit(main())
