"""Tests for desa.models.spectra: encoder, masking, hybrid loss (desa_reference.md sec. 2)."""

from __future__ import annotations

import pytest
import torch

from desa.models.layers import count_parameters
from desa.models.spectra import (
    MaskedFillingDecoder,
    QuantileHead,
    SpectraEncoder,
    SpectraEncoderConfig,
    SpectraModel,
    hybrid_loss,
    mask_pixels,
)

# sec. 14 fact 6 / issue 4: the spectra encoder has 523 M parameters
PAPER_ENCODER_PARAMS = 523e6


def test_demo_shapes() -> None:
    cfg = SpectraEncoderConfig.demo()
    torch.manual_seed(0)
    model = SpectraModel(cfg)
    out = model(torch.randn(8, 3600))
    assert out.reconstruction.shape == (8, cfg.input_length)
    assert out.quantiles.shape == (8, 3, 5)
    assert out.feature.shape == (8, cfg.d_model)
    assert out.tokens.shape == (8, cfg.n_tokens, cfg.d_model) == (8, 128, 16)
    enc = model.encoder(torch.randn(2, 1, 3600))
    torch.testing.assert_close(enc.feature, enc.tokens.sum(dim=1))  # sum pooling
    assert 1_000 <= count_parameters(model) <= 200_000


def test_mean_pooling_and_conformer_decoder_input() -> None:
    cfg = SpectraEncoderConfig(
        **{**SpectraEncoderConfig.demo().__dict__, "pooling": "mean", "decoder_input": "conformer"}
    )
    model = SpectraModel(cfg).eval()
    out = model(torch.randn(2, 3600))
    torch.testing.assert_close(out.feature, out.tokens.mean(dim=1))
    assert out.reconstruction.shape == (2, 4096)


def test_paper_parameter_count_on_meta() -> None:
    cfg = SpectraEncoderConfig.paper()
    assert (cfg.d_model, cfg.n_tokens, cfg.rotary_dim) == (2048, 128, 128)
    with torch.device("meta"):
        enc = SpectraEncoder(cfg)
        dec = MaskedFillingDecoder(cfg)
        head = QuantileHead(cfg.d_model, cfg.head_hidden, cfg.n_labels, cfg.quantiles)
    n_enc = count_parameters(enc)
    # the 523 M of the reference is the encoder (CNN + Conformer); decoder and head come on top
    assert abs(n_enc - PAPER_ENCODER_PARAMS) / PAPER_ENCODER_PARAMS < 0.02
    assert count_parameters(dec) == 26_406_081  # incl. the unused Linear(2048, 8192)
    assert count_parameters(head) == 2_048 * 1_024 + 1_024 + 2 * 1_024 + 1_024 * 15 + 15


def test_mask_rates() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(200, 5000, generator=g) + 1.0  # strictly positive, so 0 marks "fixed"
    masked, mask = mask_pixels(x, 0.15, g)
    assert mask.dtype == torch.bool
    assert abs(mask.float().mean().item() - 0.15) < 0.005
    fixed = mask & (masked == 0.0)
    assert abs(fixed.sum().item() / mask.sum().item() - 0.8) < 0.01
    rand = mask & ~fixed
    assert (masked[rand] >= 0).all() and (masked[rand] < x.max()).all()
    torch.testing.assert_close(masked[~mask], x[~mask])


def test_hybrid_loss_extremes() -> None:
    torch.manual_seed(0)
    q = (0.1, 0.25, 0.5, 0.75, 0.9)
    x = torch.randn(4, 30)
    _, mask = mask_pixels(x, 0.5)
    recon = torch.randn(4, 32, requires_grad=True)
    pred = torch.randn(4, 3, 5, requires_grad=True)
    y1, y2 = torch.randn(4, 3), torch.randn(4, 3)
    snr = torch.rand(4)
    a = hybrid_loss(recon, x, pred, y1, q, mask, snr, lam=1.0).total
    b = hybrid_loss(recon, x, pred, y2, q, mask, snr, lam=1.0).total
    c = hybrid_loss(recon, x, pred, None, q, mask, lam=1.0).total
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)
    # masked-only MSE, worked out directly
    m = torch.nn.functional.pad(mask, (0, 2))
    tgt = torch.nn.functional.pad(x, (0, 2))
    torch.testing.assert_close(a, ((recon - tgt)[m] ** 2).mean())
    d = hybrid_loss(recon, x, pred, y1, q, mask, snr, lam=0.0).total
    e = hybrid_loss(torch.randn(4, 32), torch.randn(4, 30), pred, y1, q, None, snr, lam=0.0).total
    torch.testing.assert_close(d, e)
    d.backward()
    assert recon.grad is None and pred.grad is not None
    f = hybrid_loss(recon, x, pred, y1, q, mask, snr, lam=0.3)
    torch.testing.assert_close(f.total, 0.3 * a + 0.7 * d)
    g = hybrid_loss(recon, x, pred, y1, q, None, lam=0.5, ssl_on="all")
    torch.testing.assert_close(g.ssl, ((recon - tgt) ** 2).mean())
    with pytest.raises(ValueError):
        hybrid_loss(recon, x, pred, None, q, mask, lam=0.5)


def test_gradient_reaches_all_parameters_and_is_fast() -> None:
    cfg = SpectraEncoderConfig.demo()
    torch.manual_seed(0)
    model = SpectraModel(cfg)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 3600, generator=g)
    xm, mask = mask_pixels(x, generator=g)
    out = model(xm)
    loss = hybrid_loss(
        out.reconstruction, x, out.quantiles, torch.randn(8, 3), cfg.quantiles, mask, lam=0.5
    )
    loss.total.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing
