"""A small Sphinx extension for the book's site (listed in _config.yml, `extra_extensions`).

- Removes script tags that appear twice on a page. Jupyter Book 1 with sphinx-thebe emits the
  thebe configuration script twice, and the second copy throws "Identifier 'THEBE_JS_URL' has
  already been declared" in the browser console (found by `make check-site`).
"""

from __future__ import annotations

from typing import Any


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


def setup(app) -> dict[str, Any]:
    # early: a handler that returns a template name stops the handlers after it
    app.connect("html-page-context", _dedupe_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
