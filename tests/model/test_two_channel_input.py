"""model.backbone.in_channels: 2 (the film and the other breast): the stem, the input check,
and pretrained RGB weights mapped so the model starts as the one-film model."""

from __future__ import annotations

import pytest
import torch
import torchvision

from mammorcnn.model import build_model, load_imagenet_backbone, tiny_config


def _two_channel_config():
    config = tiny_config()
    config.backbone.in_channels = 2
    return config


def test_the_stem_reads_two_channels_and_the_model_checks_its_input() -> None:
    torch.manual_seed(0)
    model = build_model(_two_channel_config()).eval()
    assert model.backbone.body.conv1.weight.shape[1] == 2
    with torch.no_grad():
        out = model([torch.rand(2, 64, 64)])
    assert set(out[0]) >= {"boxes", "scores", "labels", "masks"}
    with pytest.raises(ValueError, match="expected 2xHxW images, got shape \\(1, 64, 64\\)"):
        model([torch.rand(1, 64, 64)])
    one = build_model(tiny_config()).eval()
    with pytest.raises(ValueError, match="expected 1xHxW images, got shape \\(2, 64, 64\\)"):
        one([torch.rand(2, 64, 64)])


def test_the_partner_channel_changes_the_output() -> None:
    """The second channel is read: the stem's response differs with and without a partner."""
    torch.manual_seed(0)
    model = build_model(_two_channel_config()).eval()
    film = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        alone = model.backbone(torch.cat([film, torch.zeros_like(film)], 1))["p2"]
        paired = model.backbone(torch.cat([film, torch.rand_like(film)], 1))["p2"]
    assert not torch.allclose(alone, paired)


def test_imagenet_conv1_goes_to_the_film_and_the_partner_starts_at_zero(tmp_path) -> None:
    state = torchvision.models.resnet18().state_dict()
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    model = build_model(_two_channel_config())
    report = load_imagenet_backbone(model, path)
    weight = model.backbone.body.conv1.weight
    torch.testing.assert_close(weight[:, :1], state["conv1.weight"].sum(1, keepdim=True))
    assert not weight[:, 1].any()
    assert "backbone.body.conv1.weight" in report.loaded
    # so a partner changes nothing at the start: the stem's output is the one-film model's
    film = torch.rand(1, 1, 64, 64)
    one = build_model(tiny_config())
    load_imagenet_backbone(one, path)
    with torch.no_grad():
        expected = one.backbone.body.conv1(film)
        got = model.backbone.body.conv1(torch.cat([film, torch.rand_like(film)], 1))
    torch.testing.assert_close(got, expected)
