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
