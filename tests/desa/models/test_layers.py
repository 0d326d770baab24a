"""Tests for desa.models.layers (RoPE attention, Conformer block)."""

from __future__ import annotations

import pytest
import torch

from desa.models.layers import (
    ConformerBlock,
    RoPEMultiheadAttention,
    RotaryEmbedding,
    apply_rotary,
    count_parameters,
)


def test_rope_attention_is_shift_equivariant() -> None:
    # RoPE makes scores depend on relative positions only (desa_reference.md sec. 2)
    torch.manual_seed(0)
    attn = RoPEMultiheadAttention(16, 2)
    rope = RotaryEmbedding(4)  # rotary on the first half of each 8-d head
    x = torch.randn(2, 7, 16)
    pos = torch.arange(7)
    y0 = attn(x, rope(pos))
    y1 = attn(x, rope(pos + 13))
    torch.testing.assert_close(y0, y1, atol=1e-5, rtol=1e-5)
    # ... but it does encode position: a non-uniform re-spacing changes the output
    y2 = attn(x, rope(pos * 3))
    assert not torch.allclose(y0, y2, atol=1e-4)


def test_apply_rotary_leaves_tail_channels_and_norm() -> None:
    rope = RotaryEmbedding(4)
    cos, sin = rope(torch.arange(5))
    x = torch.randn(1, 1, 5, 8)
    y = apply_rotary(x, cos, sin)
    torch.testing.assert_close(y[..., 4:], x[..., 4:])
    torch.testing.assert_close(y[..., :4].norm(dim=-1), x[..., :4].norm(dim=-1))


@pytest.mark.parametrize("style", ["reference", "macaron"])
@pytest.mark.parametrize("conv_kind", ["dense", "depthwise"])
def test_conformer_block_shape_and_grad(style: str, conv_kind: str) -> None:
    blk = ConformerBlock(16, 2, ff_mult=2, style=style, conv_kind=conv_kind)  # type: ignore[arg-type]
    x = torch.randn(3, 10, 16, requires_grad=True)
    y = blk(x, RotaryEmbedding(4)(torch.arange(10)))
    assert y.shape == x.shape
    y.square().sum().backward()
    assert all(p.grad is not None for p in blk.parameters())
    assert count_parameters(blk) > 0


def test_target_scaling_starts_as_identity_and_fits_median_and_std() -> None:
    from desa.models.layers import TargetScaling

    scaling = TargetScaling(2)
    raw = torch.randn(5, 2, 3)
    assert torch.equal(scaling(raw), raw)
    targets = torch.tensor([[1.0, 5.0], [2.0, float("nan")], [4.0, 5.0], [3.0, float("nan")]])
    scaling.fit(targets)
    assert scaling.center.tolist() == [2.0, 0.0]  # torch median: lower middle; label 1 constant
    assert scaling.scale[0] == pytest.approx(torch.tensor([1.0, 2, 4, 3]).std().item())
    assert scaling.scale[1] == 1.0
    out = scaling(torch.ones(1, 2, 3))
    assert torch.allclose(out[0, 0], torch.full((3,), 2.0 + scaling.scale[0].item()))
    assert "center" in scaling.state_dict() and "scale" in scaling.state_dict()


def test_standardize_uses_training_statistics_and_guards_constant_columns() -> None:
    from desa.models.layers import Standardize

    x = torch.tensor([[1.0, 7.0], [3.0, 7.0]])
    scaler = Standardize.fit(x)
    out = scaler(x)
    assert torch.allclose(out[:, 0], torch.tensor([-1.0, 1.0]) / 2**0.5)
    assert torch.equal(out[:, 1], torch.zeros(2))  # std 0 -> divided by 1
