"""SU-Net model: shapes, the ANC/ASC constraints, the abundance-conditioned decoder, presets,
and loading ImageNet weights from a local file."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file
from tiny_model import TINY

from sunet.model import (
    SUNet,
    get_preset,
    load_pretrained_backbone,
    normalise,
    resize_uint8,
)
from sunet.model.sunet import ConstrainedHead, relu_leaky_grad
from sunet.training.losses import psc_loss

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny() -> SUNet:
    torch.manual_seed(0)
    return SUNet(TINY).eval()


def test_streams_have_documented_shapes(tiny: SUNet) -> None:
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        out = tiny(x)
        abundances, reconstruction = tiny.forward_msu(x)
        assert out.psc is not None
        assert out.psc.shape == (3, 17)
        assert out.abundances.shape == (3, 17)
        assert out.reconstruction.shape == (3, 3, 64, 64)
        assert reconstruction.shape == (3, 3, 64, 64)
        torch.testing.assert_close(tiny.forward_psc(x), out.psc)
        torch.testing.assert_close(tiny.forward_abundances(x), abundances)
        torch.testing.assert_close(abundances, out.abundances)


@pytest.mark.parametrize("scale", [1.0, 50.0])
def test_outputs_are_non_negative_and_sum_to_one(tiny: SUNet, scale: float) -> None:
    x = torch.randn(4, 3, 64, 64) * scale
    with torch.no_grad():
        out = tiny(x)
    for probs in (out.psc, out.abundances):
        assert probs is not None
        assert bool((probs >= 0).all())
        torch.testing.assert_close(probs.sum(1), torch.ones(4))


def test_decoder_depends_on_abundances(tiny: SUNet) -> None:
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = tiny.backbone(x)
        water = torch.zeros(2, 17)
        water[:, 16] = 1.0
        compact = torch.zeros(2, 17)
        compact[:, 0] = 1.0
        a = tiny.decoder(features, water)
        b = tiny.decoder(features, compact)
        again = tiny.decoder(features, water)
    torch.testing.assert_close(a, again)
    # A change of abundances alone must change the image substantially, not by rounding.
    assert float((a - b).abs().mean()) > 0.05 * float(a.abs().mean())


def test_decoder_is_built_from_the_backbones_feature_info() -> None:
    config = TINY.model_copy(update={"embed_dim": 24, "num_heads": (1, 2, 2, 4)})
    model = SUNet(config).eval()
    assert model.backbone.channels == [24, 48, 96, 192]
    assert model.backbone.reductions == [4, 8, 16, 32]
    with torch.no_grad():
        assert model.forward_msu(torch.randn(1, 3, 64, 64))[1].shape == (1, 3, 64, 64)


def test_without_pure_stream_there_is_no_psc_head() -> None:
    model = SUNet(TINY.model_copy(update={"pure_stream": False})).eval()
    assert model.psc_head is None
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).psc is None
    with pytest.raises(ValueError, match="no PSC stream"):
        model.forward_psc(torch.randn(1, 3, 64, 64))


def test_relu_softmax_head_can_become_confident() -> None:
    # ReLU before Softmax floors every class at exp(0); a learned head must still reach
    # near-certainty on separable data.
    torch.manual_seed(0)
    features = torch.randn(64, 32)
    labels = torch.arange(64) % 17
    features[torch.arange(64), labels] += 4.0
    head = ConstrainedHead(32, 17, dropout=0.0)
    opt = torch.optim.Adam(head.parameters(), lr=0.05)
    every = torch.ones(64, dtype=torch.bool)
    for _ in range(100):
        opt.zero_grad()
        psc_loss(head(features), labels, every).backward()
        opt.step()
    true_class = head(features).detach()[torch.arange(64), labels]
    # Every sample, not only most: plain ReLU leaves some stuck at 1/17 with no gradient.
    assert float(true_class.min()) > 0.9


def test_head_relu_is_exact_forward_and_leaks_gradient_backward() -> None:
    x = torch.tensor([-2.0, 0.5], requires_grad=True)
    y = relu_leaky_grad(x)
    torch.testing.assert_close(y, torch.tensor([0.0, 0.5]))
    y.sum().backward()
    assert x.grad is not None
    torch.testing.assert_close(x.grad, torch.tensor([0.01, 1.0]))


def test_presets_build_their_documented_sizes() -> None:
    small = SUNet(get_preset("cpu-small").model)
    assert small.backbone.channels == [32, 64, 128, 256]
    n = sum(p.numel() for p in small.parameters())
    assert 1.5e6 < n < 3e6
    paper = get_preset("paper")
    assert (paper.training.batch_size, paper.training.lr) == (32, 1e-4)
    model = SUNet(paper.model)
    assert model.backbone.channels == [96, 192, 384, 768]  # Swin-V2 tiny
    assert sum(p.numel() for p in model.backbone.parameters()) == pytest.approx(27.6e6, rel=0.01)
    assert model.config.input_size == 256
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("huge")


def test_preprocessing_resizes_and_normalises() -> None:
    images = torch.full((2, 3, 32, 32), 100, dtype=torch.uint8)
    assert resize_uint8(images, 32) is images
    small = resize_uint8(images, 16)
    assert small.dtype == torch.uint8 and small.shape == (2, 3, 16, 16)
    assert bool((small == 100).all())
    x = normalise(small, [100.0, 90.0, 80.0], [10.0, 10.0, 20.0])
    torch.testing.assert_close(x[0, :, 0, 0], torch.tensor([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="uint8"):
        resize_uint8(images.float(), 16)


def _timm_classifier() -> torch.nn.Module:
    # The same architecture as TINY, as a timm ImageNet classifier would be saved.
    torch.manual_seed(123)
    return timm.create_model(
        "swinv2_tiny_window8_256",
        pretrained=False,
        num_classes=10,
        **TINY.timm_kwargs(),
    )


@pytest.mark.parametrize("fmt", ["pth", "safetensors", "wrapped"])
def test_pretrained_weights_arrive_in_the_backbone(tmp_path: Path, fmt: str) -> None:
    source = _timm_classifier()
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    path = tmp_path / f"swin.{'safetensors' if fmt == 'safetensors' else 'pth'}"
    if fmt == "safetensors":
        save_file(state, str(path))
    else:
        torch.save({"model": state} if fmt == "wrapped" else state, path)

    model = SUNet(TINY)
    report = load_pretrained_backbone(model.backbone, path)

    body = model.backbone.body.state_dict()
    torch.testing.assert_close(body["patch_embed.proj.weight"], state["patch_embed.proj.weight"])
    torch.testing.assert_close(
        body["layers_3.blocks.0.attn.qkv.weight"], state["layers.3.blocks.0.attn.qkv.weight"]
    )
    torch.testing.assert_close(model.backbone.norm.weight, state["norm.weight"])
    assert report.missing == []
    assert "head.fc.weight" in report.unexpected
    assert report.loaded == len(model.backbone.state_dict())


def test_pretrained_rejects_files_that_are_not_weights(tmp_path: Path) -> None:
    model = SUNet(TINY)
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="notes.pth"):
        load_pretrained_backbone(model.backbone, text)
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        load_pretrained_backbone(model.backbone, tmp_path / "absent.pth")
    other = timm.create_model(
        "swinv2_tiny_window8_256",
        pretrained=False,
        **TINY.model_copy(update={"embed_dim": 24, "num_heads": (1, 2, 2, 4)}).timm_kwargs(),
    )
    wrong = tmp_path / "other.pth"
    torch.save(other.state_dict(), wrong)
    with pytest.raises(ValueError, match="do not fit this backbone"):
        load_pretrained_backbone(model.backbone, wrong)
    unrelated = tmp_path / "unrelated.safetensors"
    save_file({"conv.weight": torch.zeros(2, 2)}, str(unrelated))
    with pytest.raises(ValueError, match="no Swin-V2 backbone tensors"):
        load_pretrained_backbone(model.backbone, unrelated)


def test_weights_saved_before_the_head_reorder_still_load(tiny: SUNet) -> None:
    # Earlier bundles upsampled before the head's second convolution, stored as 'head.3'.
    state = {k: v.clone().contiguous() for k, v in tiny.state_dict().items()}
    for suffix in ("weight", "bias"):
        state[f"decoder.head.3.{suffix}"] = state.pop(f"decoder.head.2.{suffix}")
    model = SUNet(TINY)
    model.load_state_dict(state, strict=True)
    torch.testing.assert_close(model.decoder.head[2].weight, tiny.decoder.head[2].weight)


def test_channels_last_decoder_computes_the_same_reconstruction(tiny: SUNet) -> None:
    # The decoder's weights are channels-last for speed; a contiguous copy must agree.
    plain = SUNet(TINY).eval()
    plain.load_state_dict({k: v.contiguous() for k, v in tiny.state_dict().items()})
    plain.decoder.to(memory_format=torch.contiguous_format)
    assert tiny.decoder.head[0].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(plain(x).reconstruction, tiny(x).reconstruction)
