"""model.backbone.zero_init_residual: every ResNet residual block starts as the identity.

With the last norm of each residual branch at weight 0 (and bias 0), the branch outputs zeros,
so a block without a downsampling shortcut maps x to ReLU(x) exactly, whatever its random
convolutions; without the option the block changes its input. The other weights are those of
the same seed without the option: only the residual gains differ.
"""

from __future__ import annotations

import pytest
import torch
from torchvision.models.resnet import BasicBlock, Bottleneck

from mammorcnn.errors import ConfigError
from mammorcnn.model import tiny_config
from mammorcnn.model.build import build_backbone


def _blocks(name: str, zero: bool, norm: str = "gn") -> list[torch.nn.Module]:
    cfg = tiny_config()
    cfg.backbone.name = name
    cfg.backbone.norm = norm
    cfg.backbone.zero_init_residual = zero
    torch.manual_seed(0)
    body = build_backbone(cfg).body
    return [m for m in body.modules() if isinstance(m, BasicBlock | Bottleneck)]


@pytest.mark.parametrize(("name", "norm"), [("resnet18", "gn"), ("resnet50", "bn")])
def test_blocks_start_as_the_identity(name: str, norm: str) -> None:
    zero, plain = _blocks(name, True, norm), _blocks(name, False, norm)
    last = "bn3" if name == "resnet50" else "bn2"
    assert all(bool((getattr(b, last).weight.detach() == 0).all()) for b in zero)
    assert all(bool((getattr(b, last).weight.detach() == 1).all()) for b in plain)
    plain_block = [b for b in plain if b.downsample is None][0]
    with torch.no_grad():
        for block in zero:
            if block.downsample is None:
                width = block.conv1.in_channels
                y = torch.randn(2, width, 16, 16)
                torch.testing.assert_close(block.eval()(y), torch.relu(y), rtol=0, atol=0)
        y = torch.randn(2, plain_block.conv1.in_channels, 16, 16)
        assert not torch.allclose(plain_block.eval()(y), torch.relu(y))
    # the same seed draws the same convolutions: only the residual gains differ
    for a, b in zip(zero, plain, strict=True):
        torch.testing.assert_close(a.conv1.weight, b.conv1.weight)


def test_refused_for_transformers() -> None:
    cfg = tiny_config()
    with pytest.raises(ConfigError, match="zero_init_residual: only for ResNet"):
        type(cfg.backbone)(name="vit", zero_init_residual=True)
