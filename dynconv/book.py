"""Build the book: execute the chapter notebooks, vendor the site's JavaScript, report timings.

`make book` calls this module in three steps::

    python -m dynconv.book execute --profile ci [--data-dir DIR]  # papermill -> book/chapters/
    python -m dynconv.book vendor                       # require.js, widget manager, MathJax
    jupyter-book build . -W -n --keep-going             # render only (execute_notebooks: off)

Execution is skipped for a chapter whose source notebook, `dynconv` sources and parameters are
unchanged since its last successful run (a key stored in ``book/chapters/.build-keys.json``), so a
second ``make book`` with nothing changed only re-renders. Experiments inside a chapter are cached
separately by their configuration (see :mod:`dynconv.experiment`). A failing cell fails the build.

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
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
CHAPTER_DIR = REPO_ROOT / "book" / "chapters"
VENDOR_DIR = REPO_ROOT / "book" / "_static" / "vendor"
BUILD_REPORT = REPO_ROOT / "book" / "build-report.md"
KEYS_FILE = CHAPTER_DIR / ".build-keys.json"
TIMES_FILE = CHAPTER_DIR / "build-times.json"

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


@dataclass(frozen=True)
class ChapterRun:
    """What happened to one chapter in this build."""

    name: str
    seconds: float  # execution wall time of the run that produced the page
    reused: bool  # True: nothing changed since that run, so it was not executed again
    profile: str
    data_dir: str | None
    finished: str  # ISO time the producing run finished


def _sources_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted((REPO_ROOT / "dynconv").glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def chapter_key(notebook: Path, parameters: dict) -> str:
    """A key that changes when the chapter, the library or the parameters change."""
    digest = hashlib.sha256(notebook.read_bytes())
    digest.update(_sources_digest().encode())
    digest.update(json.dumps(parameters, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _load_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def execute_chapters(
    profile: str = "ci",
    data_dir: str | None = None,
    *,
    only: list[str] | None = None,
    force: bool = False,
) -> list[ChapterRun]:
    """Execute every chapter notebook in order with papermill, skipping unchanged ones."""
    import papermill  # imported here: the `book` extra is not needed by the library

    if data_dir is not None:
        data_dir = str(Path(data_dir).expanduser().resolve())
    parameters = {"profile": profile, "data_dir": data_dir}
    notebooks = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    if only:
        notebooks = [nb for nb in notebooks if nb.stem in only]
    CHAPTER_DIR.mkdir(parents=True, exist_ok=True)
    keys, times = _load_json(KEYS_FILE), _load_json(TIMES_FILE)
    env_results = os.environ.setdefault("DYNCONV_RESULTS_DIR", str(REPO_ROOT / "results"))
    runs = []
    for notebook in notebooks:
        output = CHAPTER_DIR / notebook.name
        key = chapter_key(notebook, parameters)
        if not force and output.exists() and keys.get(notebook.stem) == key:
            previous = times[notebook.stem]
            runs.append(ChapterRun(**{**previous, "reused": True}))
            print(f"[book] {notebook.stem}: unchanged, reusing the executed copy")
            continue
        print(
            f"[book] {notebook.stem}: executing (profile={profile}, data={data_dir or 'built-in'})"
        )
        start = time.perf_counter()
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(NOTEBOOK_DIR),
            progress_bar=False,
        )
        run = ChapterRun(
            name=notebook.stem,
            seconds=round(time.perf_counter() - start, 1),
            reused=False,
            profile=profile,
            data_dir=data_dir,
            finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        keys[notebook.stem] = key
        times[notebook.stem] = asdict(run)
        _write_json(KEYS_FILE, keys)
        _write_json(TIMES_FILE, times)
        runs.append(run)
        print(f"[book] {notebook.stem}: done in {run.seconds:.0f} s (results in {env_results})")
    write_build_report(runs)
    return runs


def write_build_report(runs: list[ChapterRun]) -> None:
    """Write book/build-report.md: each chapter's execution time and what produced it."""
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    cpu = platform.processor() or platform.machine()
    lines = [
        "# Build report",
        "",
        "This page is generated by `make book` (`python -m dynconv.book execute`). It lists how",
        "long each chapter took to execute in the run that produced its page. A chapter marked",
        "*reused* was not executed again because neither it, the `dynconv` package nor the",
        "parameters changed since that run.",
        "",
        f"- Machine of this build: {platform.node() or 'unknown'}, {cpu}, "
        f"{os.cpu_count()} logical cores, {device}; Python {platform.python_version()}, "
        f"torch {torch.__version__}.",
        f"- Total execution time of the producing runs: {sum(r.seconds for r in runs):.0f} s.",
        "",
        "| chapter | profile | data | execution time (s) | executed in this build | finished |",
        "|---|---|---|---:|---|---|",
    ]
    for run in runs:
        data = run.data_dir or "built-in shapes"
        fresh = "no (reused)" if run.reused else "yes"
        cells = [run.name, f"`{run.profile}`", data, f"{run.seconds:.1f}", fresh, run.finished]
        lines.append("| " + " | ".join(cells) + " |")
    BUILD_REPORT.write_text("\n".join(lines) + "\n")


def vendor_javascript(target: Path = VENDOR_DIR) -> None:
    """Fetch require.js, the widget HTML manager and MathJax from the npm registry, once."""
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dynconv.book", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("execute", help="execute the chapter notebooks with papermill")
    ex.add_argument("--profile", default="ci", choices=["ci", "full"])
    ex.add_argument("--data-dir", default=None, help="a dataset folder in the original list format")
    ex.add_argument("--only", nargs="*", help="chapter names, e.g. 01_data")
    ex.add_argument("--force", action="store_true", help="execute even unchanged chapters")
    sub.add_parser("vendor", help="vendor the site's JavaScript from the npm registry")
    args = parser.parse_args(argv)
    if args.command == "execute":
        if args.data_dir and not Path(args.data_dir).expanduser().is_dir():
            parser.error(f"--data-dir {args.data_dir!r} is not a folder")
        execute_chapters(args.profile, args.data_dir or None, only=args.only, force=args.force)
    else:
        vendor_javascript()
    return 0


if __name__ == "__main__":
    sys.exit(main())
