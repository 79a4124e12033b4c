"""First layers ("stems") that accept any subset of the R, G, B channels: one file per design.

Every stem replaces ResNet18's ``conv1`` and has one call signature,
``stem(x, channels) -> (B, 64, H, W)``, where ``x`` holds only the present channels
(``(B, len(channels), H, W)``, in R, G, B order: input mode ``"drop"``). All are 3x3,
stride 1, padding 1, no bias (a BatchNorm follows), like the original study's stem.

- :mod:`~dynconv.stems.common`: the input check, the per-sample convolution, the base class
  ``GeneratedKernelStem`` of the stems that make a kernel per image, the channel summary;
- :mod:`~dynconv.stems.v1`: ``PerSampleKernelStem``, a kernel per image for one fixed subset;
- :mod:`~dynconv.stems.v2`: ``SubsetSizeKernelStem``, one generator per subset size;
- :mod:`~dynconv.stems.v3`: ``DynamicConvStem``, dynamic convolution (Chen et al., CVPR 2020)
  with its routing module ``KernelAttention``;
- :mod:`~dynconv.stems.v4`: v4 is v2's stem trained with channel dropping (its ``drop_mode``
  names a rule of ``sampling``); ``IdentityKernelStem``, v4 + identity, the same generator
  told which channels are present (Part III);
- :mod:`~dynconv.stems.sampling`: the channel-sampling rules the models train with (v4's and
  Part III's), applied by the model around its stem;
- :mod:`~dynconv.stems.v5`: ``ChannelEmbeddingStem``, Part III's per-channel embedding stem;
- :mod:`~dynconv.stems.chammi`: the four CHAMMI baselines (Chen, Pham et al., NeurIPS 2023);
- :mod:`~dynconv.stems.original_v3`: the original study's v3, bugs kept, for demonstration.

Stems import nothing of ``dynconv`` but :mod:`dynconv.channels`, :mod:`dynconv.errors` and each
other (``tests/test_layout.py``). The names below are re-exported for readers and tests; the
library imports each from its own module, so a record's code key holds only the stems its
model uses.
"""

from dynconv.stems.common import (
    GeneratedKernelStem,
    check_input,
    per_sample_conv,
    per_sample_conv_loop,
    placed_summary,
)
from dynconv.stems.sampling import ChannelSampler, sample_subset
from dynconv.stems.v1 import PerSampleKernelStem
from dynconv.stems.v2 import SubsetSizeKernelStem
from dynconv.stems.v3 import DynamicConvStem, KernelAttention
from dynconv.stems.v4 import DROP_MODES, IdentityKernelStem, v4_sampling

__all__ = [
    "DROP_MODES", "ChannelSampler", "DynamicConvStem", "GeneratedKernelStem",
    "IdentityKernelStem", "KernelAttention", "PerSampleKernelStem", "SubsetSizeKernelStem",
    "check_input", "per_sample_conv", "per_sample_conv_loop", "placed_summary", "sample_subset",
    "v4_sampling",
]
