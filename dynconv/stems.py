"""Dynamic first layers ("stems") that accept any subset of the R, G, B channels.

Chapters: ``03_v1``, ``04_v2``, ``05_v3``, ``06_v4`` (one per variant), ``08_costs``.

Every stem replaces ResNet18's ``conv1`` and has one call signature,
``stem(x, channels) -> (B, 64, H, W)``, where ``x`` holds only the present channels
(``(B, len(channels), H, W)``, in R, G, B order: input mode ``"drop"``). All are 3x3,
stride 1, padding 1, no bias (a BatchNorm follows), like the original study's stem.

* ``PerSampleKernelStem`` (v1): one channel subset fixed at construction; a tiny
  hypernetwork turns each image's mean colour into that image's kernel.
* ``SubsetSizeKernelStem`` (v2): one such hypernetwork per subset SIZE (1, 2, 3).
* ``DynamicConvStem`` (v3): dynamic convolution (Chen et al., CVPR 2020): a bank of K
  kernels mixed per image by a routing module (``KernelAttention``).
* ``ChannelDropStem`` (v4): v2 plus random channel dropping during training.

The shared trick: per-sample kernels in ONE convolution
-------------------------------------------------------
A per-sample kernel means each image has its own weight. Instead of a Python loop of B
convolutions (the original study's v1-v3), fold the batch into the channel axis and use a
grouped convolution with ``groups=B``: group b sees only image b's channels and only
image b's kernel (``per_sample_conv``). ``per_sample_conv_loop`` keeps the loop as the
reference, and the tests check both agree. CHAMMI (Chen, Pham et al., NeurIPS 2023) and
ChannelViT (Bao et al., ICLR 2024) are the related work for channel-adaptive first layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dynconv.channels import RGB, ChannelSubset, InputMode, parse_channels
from dynconv.errors import ChannelSubsetError, ConfigError
from dynconv.sampling import ChannelSampler, sample_subset

__all__ = [
    "check_input",
    "per_sample_conv",
    "per_sample_conv_loop",
    "PerSampleKernelStem",
    "SubsetSizeKernelStem",
    "KernelAttention",
    "DynamicConvStem",
    "ChannelDropStem",
    "IdentityKernelStem",
    "placed_summary",
    "sample_subset",
    "DROP_MODES",
]

STEM_CHANNELS = 64  # ResNet's stem width
KERNEL_SIZE = 3  # the original study's 3x3, stride 1, padding 1 stem
DROP_MODES: tuple[str, ...] = ("batch", "sample")


def check_input(
    x: Tensor, channels: ChannelSubset | str | None, *, input_mode: InputMode
) -> ChannelSubset:
    """Check that ``x`` fits ``channels`` for a model's input mode; return the subset.

    ``channels=None`` means RGB. ``"zero"``: x must be (B, 3, H, W) whatever the subset
    (absent channels zero-filled by the caller). ``"drop"``: x must be
    (B, len(channels), H, W). Raises ``ChannelSubsetError`` with what was expected.
    """
    subset = RGB if channels is None else parse_channels(channels)
    if x.dim() != 4:
        raise ChannelSubsetError(
            f"Expected a batch of images shaped (B, C, H, W), got a tensor of shape "
            f"{tuple(x.shape)}."
        )
    expected = 3 if input_mode == "zero" else subset.size
    if x.shape[1] != expected:
        if input_mode == "zero":
            hint = (
                "This model takes all three channels with the absent ones set to 0 (input "
                "mode 'zero'): use apply_subset(x, channels, 'zero')."
            )
        else:
            hint = (
                f"This model takes only the present channels (input mode 'drop'): for "
                f"{subset.name} x needs {subset.size} channel(s); use "
                f"apply_subset(x, channels, 'drop')."
            )
        raise ChannelSubsetError(
            f"Input has {x.shape[1]} channels but channels={subset.name} expects {expected}. {hint}"
        )
    return subset


def per_sample_conv(x: Tensor, weight: Tensor) -> Tensor:
    """Convolve image b with its own kernel ``weight[b]``, all in one grouped convolution.

    x: (B, n, H, W); weight: (B, O, n, k, k) -> (B, O, H, W) (stride 1, 'same' padding).
    """
    b, n, h, w = x.shape
    out_ch, k = weight.shape[1], weight.shape[-1]
    # Fold the batch into channels: one "image" with B*n channels, B groups of n.
    x = x.reshape(1, b * n, h, w)  # (1, B*n, H, W)
    weight = weight.reshape(b * out_ch, n, k, k)  # (B*O, n, k, k): group b = kernels of image b
    out = F.conv2d(x, weight, padding=k // 2, groups=b)  # (1, B*O, H, W)
    return out.view(b, out_ch, h, w)  # (B, O, H, W)


def per_sample_conv_loop(x: Tensor, weight: Tensor) -> Tensor:
    """Reference for ``per_sample_conv``: one convolution per image (the original's loop)."""
    k = weight.shape[-1]
    outs = [F.conv2d(x[i : i + 1], weight[i], padding=k // 2) for i in range(x.shape[0])]
    return torch.cat(outs, dim=0)  # (B, O, H, W)


def _kernel_generator(n: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """Linear(n -> O*n*k*k) + Tanh: maps an image's n mean values to its (O, n, k, k) kernel."""
    return nn.Sequential(nn.Linear(n, out_channels * n * kernel_size**2), nn.Tanh())


def _generated_kernels(generator: nn.Module, x: Tensor, out_channels: int, k: int) -> Tensor:
    """Per-sample kernels (B, O, n, k, k) from the global average of x (B, n, H, W)."""
    b, n = x.shape[:2]
    pooled = x.mean(dim=(2, 3))  # (B, n): each image's mean per present channel
    return generator(pooled).view(b, out_channels, n, k, k)  # (B, O, n, k, k)


class PerSampleKernelStem(nn.Module):
    """v1: a kernel generated per image, for ONE channel subset fixed at construction.

    Each image's per-channel mean (global average pool, n values) goes through
    Linear(n -> 64*n*3*3) + Tanh; the result, reshaped to (64, n, 3, 3), is that image's
    first-layer kernel. Called with any other subset it raises ``ConfigError``.

    Differs from the original v1: the per-sample convolutions run as one grouped
    convolution (``per_sample_conv``) instead of a Python loop (kept as
    ``reference_forward``). The original also removed ResNet's maxpool after this stem,
    so layer1 ran at 84x84 and the network cost 3.7x the FLOPs of the baseline; that was
    the maxpool, not the dynamic kernel. The builder ``resnet18_v1`` keeps the maxpool
    unless ``keep_maxpool=False``.
    """

    def __init__(
        self,
        channels: ChannelSubset | str = RGB,
        *,
        out_channels: int = STEM_CHANNELS,
        kernel_size: int = KERNEL_SIZE,
    ) -> None:
        super().__init__()
        self.channels = parse_channels(channels)
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.generator = _kernel_generator(self.channels.size, out_channels, kernel_size)

    def _check(self, x: Tensor, channels: ChannelSubset | None) -> None:
        subset = check_input(x, channels, input_mode="drop")
        if subset != self.channels:
            raise ConfigError(
                f"This v1 stem was built for channels {self.channels.name} and cannot run on "
                f"{subset.name}: v1 fixes its channel subset at construction. Build another "
                f"one (resnet18_v1(channels='{subset.name}', ...)) or use v2, v3 or v4."
            )

    def kernels(self, x: Tensor) -> Tensor:
        """The per-sample kernels (B, 64, n, 3, 3) generated for x (B, n, H, W)."""
        return _generated_kernels(self.generator, x, self.out_channels, self.kernel_size)

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        self._check(x, channels)
        return per_sample_conv(x, self.kernels(x))  # (B, 64, H, W)

    def reference_forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        """Same output as ``forward``, computed with one convolution per image."""
        self._check(x, channels)
        return per_sample_conv_loop(x, self.kernels(x))


class SubsetSizeKernelStem(nn.Module):
    """v2: one kernel generator per subset size n = 1, 2, 3 (``generators["1"]`` ... ``["3"]``).

    As v1, but the generator is chosen by how many channels are present, so one model
    runs on any subset. The generator learns only from the subset SIZE and the mean
    values, never from WHICH channels are present: R alone and B alone share generator
    "1". The original trained v2 on RGB only, so generators "1" and "2" stayed at their
    random initialisation, which is why it scored at chance on RG..B (chapter 04_v2).
    Differs from the original v2: grouped convolution instead of a per-sample loop
    (``reference_forward`` keeps the loop).
    """

    def __init__(
        self, *, out_channels: int = STEM_CHANNELS, kernel_size: int = KERNEL_SIZE
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.generators = nn.ModuleDict(
            {str(n): _kernel_generator(n, out_channels, kernel_size) for n in (1, 2, 3)}
        )

    def kernels(self, x: Tensor) -> Tensor:
        """Per-sample kernels (B, 64, n, 3, 3) from the generator for n = x.shape[1]."""
        generator = self.generators[str(x.shape[1])]
        return _generated_kernels(generator, x, self.out_channels, self.kernel_size)

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        check_input(x, channels, input_mode="drop")
        return per_sample_conv(x, self.kernels(x))  # (B, 64, H, W)

    def reference_forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        """Same output as ``forward``, computed with one convolution per image."""
        check_input(x, channels, input_mode="drop")
        return per_sample_conv_loop(x, self.kernels(x))


def placed_summary(x: Tensor, channels: ChannelSubset, num_channels: int = 3) -> Tensor:
    """(B, 2 * num_channels): each present channel's mean at its channel's position (0 where
    absent), then the presence mask. Tells a small network WHICH channels it sees."""
    b, idx = x.shape[0], list(channels.indices)
    placed = x.new_zeros(b, num_channels)  # (B, 3)
    placed[:, idx] = x.mean(dim=(2, 3))  # (B, 3): mean of channel c at position c
    mask = x.new_zeros(b, num_channels)  # (B, 3)
    mask[:, idx] = 1.0
    return torch.cat((placed, mask), dim=1)  # (B, 6)


class KernelAttention(nn.Module):
    """Routing of v3: per-image softmax weights over the K kernels of the bank.

    Input (6 values per image): the mean of each present channel placed at its channel's
    position in an (R, G, B) 3-vector (0 where absent), plus the 3-dim presence mask, so
    the same routing serves every subset and knows WHICH channels it sees.
    MLP: Linear(6, hidden) -> ReLU -> Linear(hidden, K), hidden = max(4, int(6 * ratio)),
    then ``softmax(logits / temperature)``. ``forward`` returns the weights (B, K) so a
    chapter can plot them.

    Temperature: Chen et al. anneal it from 30 to 1 over the first epochs: at T = 30 the
    weights are near uniform, so every kernel receives gradient early on. Here
    ``set_epoch(epoch)`` (called by ``fit`` at each epoch start, 0-based) sets it linearly
    from ``initial_temperature`` at epoch 0 to 1 at epoch ``anneal_epochs`` and keeps 1
    after. It is stored in a buffer (``_temperature``), so checkpoints keep it;
    ``temperature`` reads it as a float.

    Softmax vs sigmoid: timm's CondConv (Yang et al., NeurIPS 2019) routes with a sigmoid,
    so each kernel's weight is independent and their sum is free. Chen et al.'s softmax
    keeps the mixed kernel a convex combination of the bank (weights sum to 1), which with
    the temperature schedule trains all kernels evenly at first; this book follows Chen et al.
    """

    def __init__(
        self,
        *,
        num_kernels: int = 4,
        num_channels: int = 3,
        ratio: float = 0.25,
        initial_temperature: float = 30.0,
        anneal_epochs: int = 10,
    ) -> None:
        super().__init__()
        if anneal_epochs < 0:
            raise ConfigError(f"anneal_epochs must be >= 0, got {anneal_epochs}.")
        if initial_temperature < 1:
            raise ConfigError(f"initial_temperature must be >= 1, got {initial_temperature}.")
        in_features = 2 * num_channels  # placed means + presence mask
        # Chen et al. reduce by 4 (ratio 0.25); with only 6 inputs keep at least 4 units
        # (the original's int(3 * 0.25) + 1 = 1 unit could not route anything).
        hidden = max(4, int(in_features * ratio))
        self.num_channels = num_channels
        self.initial_temperature = float(initial_temperature)
        self.anneal_epochs = anneal_epochs
        self.fc1 = nn.Linear(in_features, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, num_kernels)
        self.register_buffer("_temperature", torch.tensor(float(initial_temperature)))

    @property
    def temperature(self) -> float:
        """The current softmax temperature."""
        return float(self._temperature)

    def temperature_at(self, epoch: int) -> float:
        """Softmax temperature at the start of ``epoch`` (0-based): linear, then 1."""
        if self.anneal_epochs == 0 or epoch >= self.anneal_epochs:
            return 1.0
        t0 = self.initial_temperature
        return t0 + (1.0 - t0) * max(epoch, 0) / self.anneal_epochs

    def set_epoch(self, epoch: int) -> None:
        """Anneal the temperature (called by ``fit`` at the start of every epoch)."""
        self._temperature.fill_(self.temperature_at(epoch))

    def forward(self, x: Tensor, channels: ChannelSubset) -> Tensor:
        summary = placed_summary(x, channels, self.num_channels)  # (B, 6)
        logits = self.fc2(self.relu(self.fc1(summary)))  # (B, K)
        return torch.softmax(logits / self._temperature, dim=1)  # (B, K), rows sum to 1


class DynamicConvStem(nn.Module):
    """v3: dynamic convolution (Chen et al., "Dynamic Convolution: Attention over
    Convolution Kernels", CVPR 2020, https://arxiv.org/abs/1912.03458) as the first layer.

    A bank of K = 4 kernels (K, 64, 3, 3, 3), one input slice per colour channel; per image
    the routing module ``attention`` (``KernelAttention``) gives weights (B, K), the bank
    is mixed into one (64, 3, 3, 3) kernel per image, and only the input slices of the
    present channels (by channel IDENTITY: G and B use slices 1 and 2) are used.

    Differs from Chen et al.: they make every conv of the network dynamic and keep the
    7x7 stem static; here only the first layer is dynamic. Routing input also carries a
    channel-presence mask. No per-kernel bias.
    Differs from the original v3 (the report credits "Wu et al."; see ``dynconv.errata``):
    the routing layers are built once and trained (the original rebuilt them at random
    every call), the hidden width is max(4, ...) not 1, the temperature is annealed
    30 -> 1 (the original kept 34, a near-uniform softmax), and input slices are chosen
    by channel identity (the original took the first n slices whatever the channels).
    """

    def __init__(
        self,
        *,
        num_kernels: int = 4,
        out_channels: int = STEM_CHANNELS,
        kernel_size: int = KERNEL_SIZE,
        initial_temperature: float = 30.0,
        anneal_epochs: int = 10,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        k = kernel_size
        self.bank = nn.Parameter(torch.empty(num_kernels, out_channels, 3, k, k))
        for kernel in self.bank.data:  # each (64, 3, 3, 3) initialised like a conv kernel
            nn.init.kaiming_normal_(kernel, mode="fan_out", nonlinearity="relu")
        self.attention = KernelAttention(
            num_kernels=num_kernels,
            initial_temperature=initial_temperature,
            anneal_epochs=anneal_epochs,
        )

    def set_epoch(self, epoch: int) -> None:
        """Anneal the routing temperature (same as ``self.attention.set_epoch``)."""
        self.attention.set_epoch(epoch)

    def kernels(self, x: Tensor, channels: ChannelSubset) -> Tensor:
        """Per-sample mixed kernels (B, 64, n, 3, 3) for the present channels."""
        weights = self.attention(x, channels)  # (B, K)
        num_kernels = self.bank.shape[0]
        mixed = weights @ self.bank.view(num_kernels, -1)  # (B, 64*3*3*3)
        mixed = mixed.view(x.shape[0], self.out_channels, 3, self.kernel_size, self.kernel_size)
        index = torch.tensor(channels.indices, device=x.device)
        return mixed.index_select(2, index)  # (B, 64, n, 3, 3): slices by channel identity

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        subset = check_input(x, channels, input_mode="drop")
        return per_sample_conv(x, self.kernels(x, subset))  # (B, 64, H, W)

    def reference_forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        """Same output as ``forward``, computed with one convolution per image."""
        subset = check_input(x, channels, input_mode="drop")
        return per_sample_conv_loop(x, self.kernels(x, subset))


class ChannelDropStem(SubsetSizeKernelStem):
    """v4: v2 plus random channel dropping during training.

    In training mode, with probability ``drop_prob`` the stem forgets some of the
    present channels: a subset is drawn by ``sample_subset`` (k uniform in 1..n, then k
    random channels) and only those channels reach the size-k generator. With
    ``drop_prob=0.5`` and RGB input 2/3 of batches keep all three channels.
    ``drop_mode="batch"``: one draw for the whole batch (as the original v4).
    ``drop_mode="sample"``: one draw per image; images are grouped by drawn subset, the
    stem runs once per group and outputs are put back in batch order.
    In eval mode nothing is dropped.

    Differs from the original v4: the per-sample mode and hierarchical sampling over the
    PRESENT channels (the original drew from all three); grouped convolution throughout.
    Like the original, the generator sees only the subset size, not which channels.
    """

    def __init__(
        self,
        *,
        drop_prob: float = 0.5,
        drop_mode: str = "batch",
        out_channels: int = STEM_CHANNELS,
        kernel_size: int = KERNEL_SIZE,
    ) -> None:
        super().__init__(out_channels=out_channels, kernel_size=kernel_size)
        if not 0.0 <= drop_prob <= 1.0:
            raise ConfigError(f"drop_prob must be between 0 and 1, got {drop_prob}.")
        if drop_mode not in DROP_MODES:
            raise ConfigError(
                f"Unknown drop_mode {drop_mode!r}; valid choices: {', '.join(DROP_MODES)}."
            )
        self.drop_prob = drop_prob
        self.drop_mode = drop_mode
        self._sampler = ChannelSampler("v4", drop_prob=drop_prob)  # v4's per-image rule

    def _draw(self, present: ChannelSubset) -> ChannelSubset:
        """One training draw: the kept subset (``present`` itself when nothing is dropped)."""
        return self._sampler.draw_one(present)

    def draw_frequencies(self, present: ChannelSubset, *, draws: int = 20_000,
                         seed: int = 0) -> dict[str, float]:
        """The fraction of ``draws`` training draws that keep each subset, measured by running
        this stem's own sampler (the global RNG is saved and restored).

        With ``drop_prob=0.5`` on RGB: RGB about 2/3 (1/2 kept + 1/2 x 1/3 drawn whole), every
        other subset about 1/18 = 5.6% (1/2 x 1/3 for its size x 1/3 among that size).
        """
        state = torch.random.get_rng_state()
        try:
            torch.manual_seed(seed)
            counts: dict[str, int] = {}
            for _ in range(draws):
                name = self._draw(present).name
                counts[name] = counts.get(name, 0) + 1
        finally:
            torch.random.set_rng_state(state)
        return {name: counts[name] / draws for name in sorted(counts, key=len, reverse=True)}

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        present = check_input(x, channels, input_mode="drop")
        if not self.training or self.drop_prob == 0.0:
            return super().forward(x, present)
        if self.drop_mode == "batch":
            draws = [self._draw(present)] * x.shape[0]
        else:  # "sample": draw per image, run once per distinct subset
            draws = [self._draw(present) for _ in range(x.shape[0])]
        def stem(x_kept: Tensor, kept: ChannelSubset) -> Tensor:
            return SubsetSizeKernelStem.forward(self, x_kept, kept)

        return ChannelSampler.run_drop(x, present, draws, stem)  # (B, 64, H, W)


class IdentityKernelStem(nn.Module):
    """v2's kernel generator given the channel IDENTITY (Part III's ablation of v2/v4).

    v2 and v4 generate an image's kernel from its n channel means with one generator per
    subset SIZE, so R alone and B alone look the same to them. Here ONE generator,
    Linear(6 -> 64*3*3*3) + Tanh, reads ``placed_summary`` (the means at their channel's
    position plus the presence mask, as v3's routing does) and generates a full
    (64, 3, 3, 3) kernel per image; the input slices of the present channels are used (by
    identity, as v3). Trained with the same channel sampling as the other Part III models,
    it isolates what knowing WHICH channels are present adds to v2/v4.
    """

    def __init__(
        self, *, out_channels: int = STEM_CHANNELS, kernel_size: int = KERNEL_SIZE
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        # 6 summary values in, a kernel for all 3 input channels out
        self.generator = nn.Sequential(nn.Linear(6, out_channels * 3 * kernel_size**2), nn.Tanh())

    def kernels(self, x: Tensor, channels: ChannelSubset) -> Tensor:
        """Per-sample kernels (B, 64, n, 3, 3) for the present channels."""
        k = self.kernel_size
        full = self.generator(placed_summary(x, channels))  # (B, 64*3*3*3)
        full = full.view(x.shape[0], self.out_channels, 3, k, k)  # (B, 64, 3, 3, 3)
        index = torch.tensor(channels.indices, device=x.device)
        return full.index_select(2, index)  # (B, 64, n, 3, 3): slices by channel identity

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        subset = check_input(x, channels, input_mode="drop")
        return per_sample_conv(x, self.kernels(x, subset))  # (B, 64, H, W)
