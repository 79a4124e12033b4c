"""The data: the original study's list format, a dataset's identity, decoding and caching, and
the built-in dataset generated on this machine.

- :mod:`~dynconv.data.datasets`: list files (``train.txt``, ``val.txt``, ``test.txt``), their
  validation with named errors, the dataset's identity and content fingerprint, the decode
  cache, and the loaders;
- :mod:`~dynconv.data.shapes`: the built-in dataset of drawn shapes whose classes need colour,
  generated locally (nothing is downloaded).

Layer: above the base modules (``errors``, ``fileio``, ``paths``, ``channels``, ``config``,
``provenance``, ``stats``), below everything else.
"""
