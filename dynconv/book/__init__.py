"""What the chapters call: each notebook cell is one short call into these modules.

- :mod:`~dynconv.book.chapter`: ``chapter.start`` and the helpers every chapter shares;
- :mod:`~dynconv.book.tables` and :mod:`~dynconv.book.sentences`: the tables and the
  sentences a chapter states, computed from records (tested, never typed into a notebook);
- :mod:`~dynconv.book.plots` and :mod:`~dynconv.book.widgets`: figures and explorers;
- :mod:`~dynconv.book.reported`: what the original study reported, typed once from its report;
- :mod:`~dynconv.book.robustness`: Part III's comparisons against per-subset oracles;
- :mod:`~dynconv.book.realphotos`: the sections computed from the real-photo records;
- :mod:`~dynconv.book.demos`: the small measurements a chapter makes in place;
- :mod:`~dynconv.book.story`: the chapters in reading order and what each introduces (a test
  fails when a chapter uses a model before its chapter);
- :mod:`~dynconv.book.partcosts`: the benchmark's rows and study estimate, split by part;
- :mod:`~dynconv.book.conclusions`: the closing chapter's conclusions, Parts I to III, on
  both datasets;
- :mod:`~dynconv.book.progress`: progress on the page, or on the build's console;
- :mod:`~dynconv.book.diagrams`: a layer drawn from its own forward pass, and its code.

Nothing in the library imports this package.
"""
