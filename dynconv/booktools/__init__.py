"""Build tooling of the book, not part of the library.

``book`` executes the chapter notebooks and writes the build report (``make book``),
``sitecheck`` tests the built site in headless Chromium (``make check-site``) and ``sphinxext``
is the site's Sphinx extension (``_config.yml``). Nothing in :mod:`dynconv` imports this
subpackage, and its sources are not part of the key that decides when a chapter is executed
again: editing the site check does not re-execute the chapters.

The tools work on the book found from the working directory (the nearest folder upwards that
holds ``_toc.yml`` and ``notebooks/``, see :func:`dynconv.paths.find_book_root`), or on the one
named with ``--root``; never on a path relative to where the package is installed.
"""
