"""RestorationNet: the detector's backbone under the detector's parameter names, and a
restoration loss computed by hand."""

from __future__ import annotations

import pytest
import torch

from mammorcnn.config import load_config
from mammorcnn.model import build_model
from mammorcnn.model.restoration import RestorationNet

TINY = ["model.backbone.name=resnet18", "model.backbone.fpn_channels=16", "model.backbone.norm=gn"]


def _net(*extra: str) -> RestorationNet:
    torch.manual_seed(0)
    return RestorationNet(load_config(None, [*TINY, *extra]).model)


@pytest.mark.parametrize("channels", [1, 2])
def test_its_backbone_tensors_are_the_detectors_by_name_and_shape(channels: int) -> None:
    extra = [
        f"model.backbone.in_channels={channels}",
        f"data.preprocess.other_breast={channels == 2}",
    ]
    net = _net(*extra).state_dict()
    detector = build_model(load_config(None, [*TINY, *extra]).model).state_dict()
    backbone = {k: v.shape for k, v in net.items() if not k.startswith("decoder.")}
    assert backbone == {k: v.shape for k, v in detector.items() if k.startswith("backbone.")}


def test_the_loss_of_a_zero_decoder_is_the_mean_square_of_the_normalised_originals() -> None:
    """A decoder of zeros restores 0 everywhere: the loss is mean(((x - mean) / std)^2) over
    both images' own pixels, the 32x64 image's padding (to 64x64) left out."""
    net = _net()
    for param in net.decoder.parameters():
        torch.nn.init.zeros_(param)
    originals = [torch.rand(1, 64, 64), torch.rand(1, 32, 64)]
    views = [torch.rand(1, 64, 64), torch.rand(1, 32, 64)]
    net.train()
    loss = net(views, [{"original": o} for o in originals])["loss_restore"]
    mean, std = net.config.image_mean, net.config.image_std
    pixels = torch.cat([o.flatten() for o in originals])
    expected = (((pixels - mean) / std) ** 2).mean()
    torch.testing.assert_close(loss, expected)


def test_eval_restores_every_channel_at_full_resolution_and_training_needs_originals() -> None:
    net = _net("model.backbone.in_channels=2", "data.preprocess.other_breast=true").eval()
    with torch.no_grad():
        restored = net([torch.rand(2, 64, 96)])
    assert restored.shape == (1, 2, 64, 96)
    with pytest.raises(ValueError, match="original"):
        net.train()([torch.rand(2, 64, 64)])


def test_it_learns_to_restore_a_view() -> None:
    """Fifty Adam steps on one corrupted view (a dimmed copy with a square painted over)
    bring the loss below half of where it started (to about a third)."""
    net = _net().train()
    original = torch.linspace(0, 1, 64).repeat(64, 1)[None]
    view = original * 0.5
    view[:, 20:40, 20:40] = 1.0
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(50):
        loss = net([view], [{"original": original}])["loss_restore"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 2
