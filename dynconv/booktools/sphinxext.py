"""A small Sphinx extension for the book's site (listed in _config.yml, `extra_extensions`).

Build tooling, not part of the library (see :mod:`dynconv.booktools`).

- Removes script tags that appear twice on a page. Jupyter Book 1 with sphinx-thebe emits the
  thebe configuration script twice, and the second copy throws "Identifier 'THEBE_JS_URL' has
  already been declared" in the browser console (found by `make check-site`).
- Writes the site's root ``index.html`` as a complete page that redirects to the first page of
  the book. The one-line redirect written by Jupyter Book names no icon, so the browser asks for
  ``/favicon.ico`` and logs a 404 whenever that request wins the race against the redirect
  (CI's site check failed on it once). The upstream file is also never rewritten when the first
  page changes; this one is written on every build.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

REDIRECT_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="icon" href="data:,">
<meta http-equiv="Refresh" content="0; url={target}">
</head>
<body><p>The book starts at <a href="{target}">{target}</a>.</p></body>
</html>
"""


def _dedupe_scripts(app, pagename: str, templatename: str, context: dict, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        # the copies differ only in filename None vs "": compare what the tag will hold
        filename = getattr(script, "filename", str(script)) or ""
        key = (filename, tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # in place: later handlers see the same list


def write_root_redirect(outdir: Path, first_page: str, title: str) -> Path:
    """Write ``outdir/index.html``: a page that redirects to `first_page` (a path like
    ``book/intro.html``) and asks for nothing else on the way.

    Its icon is the empty ``data:,`` URL: a real file would be a request that the redirect can
    abort, and no icon at all makes the browser ask for ``/favicon.ico``.
    """
    target = html.escape(first_page, quote=True)
    page = REDIRECT_PAGE.format(title=html.escape(title), target=target)
    index = Path(outdir) / "index.html"
    index.write_text(page, encoding="utf8")
    return index


def _root_redirect(app, exception: Exception | None) -> None:
    if exception is not None or app.builder.name != "html" or app.config.root_doc == "index":
        return
    title = app.config.html_title or app.config.project
    write_root_redirect(Path(app.outdir), f"{app.config.root_doc}.html", title)


def setup(app) -> dict[str, Any]:
    # early: a handler that returns a template name stops the handlers after it
    app.connect("html-page-context", _dedupe_scripts, priority=100)
    # before sphinx-external-toc's handler (priority 500), which writes only a missing index.html
    app.connect("build-finished", _root_redirect, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
