"""Part II's small network: stem conv, self-attention + SE, an "RRDB", one more conv.

Chapter: ``09_part2``.

The course asked for a network of "2 to 4 layers" reaching 90% of ResNet34's accuracy.
The original study's answer is rebuilt here block for block (see ``dynconv.models.blocks`` for
the papers behind each block). With 50 classes its parameter counts match the report
exactly: 205,204 (stem k3s1) and 212,884 (stem k7s2).

How this differs from the original study: attention uses the fused
``scaled_dot_product_attention`` (same numbers, memory O(HW) instead of O((HW)^2));
``rrdb="dense"`` offers ESRGAN's real RRDB in place of the original's plain-conv block.
Note that this swap changes two things at once: the dense connections are added AND the
attention + SE inside the original's block are removed (ESRGAN's RRDB has neither), so a
difference between the two cannot be credited to either change alone.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dynconv.channels import ChannelSubset
from dynconv.errors import ConfigError
from dynconv.models.blocks import RRDB, AttentionSE, OriginalRRDB
from dynconv.stems.common import check_input

__all__ = ["SMALL_STEMS", "RRDB_KINDS", "SmallAttentionNet", "inspect_first_block",
           "small_attention_net"]

# stem name -> (kernel, stride, padding)
SMALL_STEMS: dict[str, tuple[int, int, int]] = {"k3s1": (3, 1, 1), "k7s2": (7, 2, 3)}
RRDB_KINDS: tuple[str, ...] = ("original", "dense")


class SmallAttentionNet(nn.Module):
    """The original study's Part II network (its "v1" = stem "k3s1", "v2" = stem "k7s2").

    conv(3 -> 64) + BN + ReLU; AttentionSE(64); RRDB(64); conv3x3(64 -> 128) + BN + ReLU;
    adaptive average pool; Linear(128 -> num_classes). Input mode "zero": x is always
    (B, 3, H, W).

    An honest layer count. The report calls it six layers and counts "2 to 4" that
    matter, by treating attention + SE and the whole RRDB as one layer each. Counting
    weight layers (convs and linear layers, BN not counted), with ``rrdb="original"``:
    stem conv 1, AttentionSE 5 (q, k, v 1x1 convs + 2 SE linears), OriginalRRDB 10
    (3 convs + 5 in its AttentionSE + 2 in its own SE), transition conv 1, classifier 1:
    18 weight layers. The longest chain of weight layers an input passes through is 14:
    stem 1, v 1, SE 2, the RRDB's three convs 3, its v 1, its SE 2, its own SE 2,
    transition 1, fc 1 (q, k and v run side by side, so an attention adds one to a chain).
    With ``rrdb="dense"`` it is 23 weight layers (the RRDB alone has 15 convs). Either way
    this is not a 2-to-4-layer network, and at stem k3s1 its two full-resolution attentions
    cost more FLOPs than ResNet34 (chapter 08_costs).
    """

    input_mode = "zero"

    def __init__(
        self,
        num_classes: int,
        *,
        stem: str = "k3s1",
        rrdb: str = "original",
        width: int = 64,
    ) -> None:
        super().__init__()
        if stem not in SMALL_STEMS:
            raise ConfigError(f"Unknown stem {stem!r}; valid choices: {', '.join(SMALL_STEMS)}.")
        if rrdb not in RRDB_KINDS:
            raise ConfigError(f"Unknown rrdb {rrdb!r}; valid choices: {', '.join(RRDB_KINDS)}.")
        if num_classes < 1 or width < 8:
            raise ConfigError(
                f"num_classes must be >= 1 and width >= 8, got {num_classes} and {width}."
            )
        kernel, stride, padding = SMALL_STEMS[stem]
        self.stem_name = stem
        # The original's convs keep their bias even before BN (needed to match its counts).
        self.conv1 = nn.Conv2d(3, width, kernel, stride=stride, padding=padding)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.attention = AttentionSE(width)  # the original's "layer 2"
        self.rrdb = OriginalRRDB(width) if rrdb == "original" else RRDB(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)  # transition conv
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, num_classes)

    def stem_features(self, x: Tensor) -> Tensor:
        """The stem's output, the input of the first attention block: (B, 64, H', W')."""
        return self.relu(self.bn1(self.conv1(x)))  # H' = H (k3s1) or H/2 (k7s2)

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        check_input(x, channels, input_mode="zero")
        x = self.stem_features(x)  # (B, 64, H', W')
        x = self.attention(x)  # (B, 64, H', W')
        x = self.rrdb(x)  # (B, 64, H', W')
        x = self.relu(self.bn2(self.conv2(x)))  # (B, 128, H', W')
        x = self.avgpool(x).flatten(1)  # (B, 128)
        return self.fc(x)  # (B, num_classes)


@torch.no_grad()
def inspect_first_block(model: SmallAttentionNet, x: Tensor) -> dict[str, Tensor]:
    """What the first AttentionSE block does to a batch ``x`` (B, 3, H, W), in eval mode.

    Returns ``attention`` (B, H'W', H'W'): the softmax rows of the self-attention;
    ``gates`` (B, 64): the SE gates applied after it; ``gamma``: the learned weight of the
    attention's output in ``gamma * attention + x`` (0 at initialisation: a trained gamma
    near 0 means the network learned to ignore the attention); ``size``: (H', W').
    """
    was_training = model.training
    model.eval()
    try:
        features = model.stem_features(x)  # (B, 64, H', W')
        block = model.attention
        attended = block.attention(features)  # (B, 64, H', W')
        return {
            "attention": block.attention.attention_weights(features),
            "gates": block.se.gates(attended),
            "gamma": block.attention.gamma.detach().clone(),
            "size": torch.tensor(features.shape[-2:]),
        }
    finally:
        model.train(was_training)


def small_attention_net(
    *, num_classes: int, stem: str = "k3s1", rrdb: str = "original", width: int = 64
) -> SmallAttentionNet:
    """Build ``SmallAttentionNet``; stem "k3s1" (original v1) or "k7s2" (original v2)."""
    return SmallAttentionNet(num_classes, stem=stem, rrdb=rrdb, width=width)
