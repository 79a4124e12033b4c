"""The book's experiments: declared once, trained or loaded by key, stored as typed records.

- :mod:`~dynconv.experiments.registry`: every experiment of the book, its model, settings and
  seeds;
- :mod:`~dynconv.experiments.runner`: ``run`` trains an experiment or loads its stored record
  when the key (configuration, data fingerprint, code) matches;
- :mod:`~dynconv.experiments.keys`: which code a record's numbers depend on, read from the
  layout (``is_numeric``);
- :mod:`~dynconv.experiments.records`: the typed record, its intervals and paired tests;
- :mod:`~dynconv.experiments.convergence`: the rule that says whether a run had levelled off;
- :mod:`~dynconv.experiments.inspection`: what a record stores of its trained model for a
  chapter's figure;
- :mod:`~dynconv.experiments.launch`: ``python -m dynconv.experiments.launch``, one experiment
  from a shell or under torchrun.

The top of the library: it may import every layer below and nothing above (the book, the
benchmark, the build tools).
"""
