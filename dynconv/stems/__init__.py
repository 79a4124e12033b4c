"""First layers ("stems") that accept any subset of the R, G, B channels: one file per design.

Every stem replaces ResNet18's ``conv1`` and has one call signature,
``stem(x, channels) -> (B, 64, H, W)``, where ``x`` holds only the present channels
(``(B, len(channels), H, W)``, in R, G, B order: input mode ``"drop"``). All are 3x3,
stride 1, padding 1, no bias (a BatchNorm follows), like the original study's stem.

- :mod:`~dynconv.stems.common`: the input check, the per-sample convolution, the channel
  summary;
- :mod:`~dynconv.stems.v1`: ``PerSampleKernelStem``, a kernel per image for one fixed subset;
- :mod:`~dynconv.stems.v2`: ``SubsetSizeKernelStem``, one generator per subset size, and
  ``IdentityKernelStem``, the same told which channels are present (Part III);
- :mod:`~dynconv.stems.v3`: ``DynamicConvStem``, dynamic convolution (Chen et al., CVPR 2020)
  with its routing module ``KernelAttention``;
- :mod:`~dynconv.stems.v4`: ``ChannelDropStem``, v2 plus random channel dropping in training;
- :mod:`~dynconv.stems.sampling`: the channel-sampling rule the models train with;
- :mod:`~dynconv.stems.v5`: ``ChannelEmbeddingStem``, Part III's per-channel embedding stem;
- :mod:`~dynconv.stems.chammi`: the four CHAMMI baselines (Chen, Pham et al., NeurIPS 2023);
- :mod:`~dynconv.stems.original_v3`: the original study's v3, bugs kept, for demonstration.

Stems import nothing of ``dynconv`` but :mod:`dynconv.channels`, :mod:`dynconv.errors` and each
other (``tests/test_layout.py``). The names below are re-exported for readers and tests; the
library imports each from its own module, so a record's code key holds only the stems its
model uses.
"""

from dynconv.stems.common import check_input, per_sample_conv, per_sample_conv_loop, placed_summary
from dynconv.stems.sampling import ChannelSampler, sample_subset
from dynconv.stems.v1 import PerSampleKernelStem
from dynconv.stems.v2 import IdentityKernelStem, SubsetSizeKernelStem
from dynconv.stems.v3 import DynamicConvStem, KernelAttention
from dynconv.stems.v4 import DROP_MODES, ChannelDropStem

__all__ = [
    "DROP_MODES", "ChannelDropStem", "ChannelSampler", "DynamicConvStem", "IdentityKernelStem",
    "KernelAttention", "PerSampleKernelStem", "SubsetSizeKernelStem", "check_input",
    "per_sample_conv", "per_sample_conv_loop", "placed_summary", "sample_subset",
]
