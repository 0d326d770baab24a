"""Light-curve encoder (desa_reference.md §3): shapes, crops, inputs, SimSiam gradients, counts."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from desa.losses import simsiam_loss
from desa.models.layers import count_parameters
from desa.models.lightcurves import (
    LightCurveEncoder,
    LightCurveEncoderConfig,
    PeriodHead,
    SimSiamHead,
    lightcurve_inputs,
    random_crop,
    simsiam_step,
)
from desa.preprocess.lightcurves import acf_torch, fft_features_torch

DEMO = LightCurveEncoderConfig.demo()


def _series(batch: int = 8, length: int = 600, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(length, dtype=torch.float32)
    period = 20.0 + 30.0 * torch.rand(batch, 1, generator=g)
    flux = 1.0 + 0.01 * torch.sin(2 * math.pi * t / period)
    flux = flux + 1e-3 * torch.randn(batch, length, generator=g)
    flux[:, 100:130] = math.nan  # a gap
    return flux


def test_demo_shapes() -> None:
    torch.manual_seed(0)
    enc, head, period = LightCurveEncoder(DEMO), SimSiamHead(DEMO), PeriodHead(DEMO)
    x = lightcurve_inputs(random_crop(_series(), DEMO.crop_length, torch.Generator()))
    assert x.shape == (8, 4, DEMO.crop_length)
    out = enc(x)
    assert out.feature.shape == (8, DEMO.feature_dim)
    assert out.backbone.shape == (8, DEMO.backbone_dim)
    assert out.tokens.shape == (8, DEMO.crop_length // DEMO.patch, DEMO.d_model)
    assert head(out.feature).shape == (8, DEMO.feature_dim)
    assert period(out.feature, out.feature).shape == (8, 1, len(DEMO.quantiles))
    assert torch.isfinite(out.feature).all()


def test_crops_within_series_and_right_length() -> None:
    batch, total, length = 16, 50, 12
    flux = torch.arange(total, dtype=torch.float32).repeat(batch, 1) + 1000 * torch.arange(
        batch
    ).unsqueeze(1)
    crop = random_crop(flux, length, torch.Generator().manual_seed(3))
    assert crop.shape == (batch, length)
    start = crop[:, 0] - 1000 * torch.arange(batch)
    assert ((start >= 0) & (start <= total - length)).all()
    # contiguous window of the same row
    assert torch.equal(
        crop - crop[:, :1], torch.arange(length, dtype=torch.float32).expand(batch, -1)
    )
    assert len(set(start.tolist())) > 1  # starts differ across rows
    # same generator seed -> same crops; shorter series -> NaN-padded
    again = random_crop(flux, length, torch.Generator().manual_seed(3))
    assert torch.equal(crop, again)
    short = random_crop(flux[:, :5], 8, torch.Generator())
    assert torch.equal(short[:, :5], flux[:, :5]) and short[:, 5:].isnan().all()


def test_inputs_channels() -> None:
    crop = _series(4)[:, :256]  # holds the NaN gap at 100:130
    x = lightcurve_inputs(crop)
    finite = torch.isfinite(crop)
    assert not finite.all()
    mean = torch.nanmean(crop, -1, keepdim=True)
    torch.testing.assert_close(x[:, 0], torch.where(finite, crop, mean))
    std = torch.sqrt(torch.nanmean((crop - mean) ** 2, -1, keepdim=True))
    torch.testing.assert_close(x[:, 1], torch.where(finite, (crop - mean) / (std + 1e-8), 0.0))
    acf = acf_torch(crop)
    acf = (acf - acf.mean(-1, keepdim=True)) / (acf.std(-1, keepdim=True, correction=0) + 1e-8)
    torch.testing.assert_close(x[:, 2], acf)
    torch.testing.assert_close(x[:, 3], fft_features_torch(crop))
    assert torch.isfinite(lightcurve_inputs(torch.full((2, 32), math.nan))).all()


def test_simsiam_stop_gradient_on_target() -> None:
    torch.manual_seed(0)
    head = SimSiamHead(DEMO)
    z1 = torch.randn(8, DEMO.feature_dim, requires_grad=True)
    z2 = torch.randn(8, DEMO.feature_dim, requires_grad=True)
    # target branch only: z enters solely as a target -> no gradient reaches it
    p1, p2 = head(z1.detach()), head(z2.detach())
    simsiam_loss(p1, z2, p2, z1).backward()
    assert z1.grad is None and z2.grad is None


def test_simsiam_step_gradient_equals_explicit_detach() -> None:
    flux = _series()

    def grads(detach: bool) -> list[torch.Tensor]:
        torch.manual_seed(0)
        enc, head = LightCurveEncoder(DEMO), SimSiamHead(DEMO)
        g = torch.Generator().manual_seed(7)
        if detach:
            loss = simsiam_step(enc, head, flux, g)
        else:  # the same loss without stop-gradient
            z1 = enc(lightcurve_inputs(random_crop(flux, DEMO.crop_length, g))).feature
            z2 = enc(lightcurve_inputs(random_crop(flux, DEMO.crop_length, g))).feature
            loss = -0.5 * (
                F.cosine_similarity(head(z1), z2).mean() + F.cosine_similarity(head(z2), z1).mean()
            )
        loss.backward()
        return [p.grad.clone() for p in enc.parameters()]

    def grads_manual_detach() -> list[torch.Tensor]:
        torch.manual_seed(0)
        enc, head = LightCurveEncoder(DEMO), SimSiamHead(DEMO)
        g = torch.Generator().manual_seed(7)
        z1 = enc(lightcurve_inputs(random_crop(flux, DEMO.crop_length, g))).feature
        z2 = enc(lightcurve_inputs(random_crop(flux, DEMO.crop_length, g))).feature
        loss = -0.5 * (
            F.cosine_similarity(head(z1), z2.detach()).mean()
            + F.cosine_similarity(head(z2), z1.detach()).mean()
        )
        loss.backward()
        return [p.grad.clone() for p in enc.parameters()]

    step, manual, no_stop = grads(True), grads_manual_detach(), grads(False)
    for a, b in zip(step, manual, strict=True):
        torch.testing.assert_close(a, b)
    assert any(not torch.allclose(a, c) for a, c in zip(step, no_stop, strict=True))


def test_backward_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    enc, head, period = LightCurveEncoder(DEMO), SimSiamHead(DEMO), PeriodHead(DEMO)
    prot = torch.tensor([10.0, math.nan, 25.0, 3.0, 40.0, 12.0, math.nan, 8.0])
    loss = simsiam_step(
        enc, head, _series(), torch.Generator().manual_seed(0), period_head=period, prot_days=prot
    )
    assert torch.isfinite(loss)
    loss.backward()
    for module in (enc, head, period):
        for name, p in module.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_paper_parameter_count_on_meta() -> None:
    cfg = LightCurveEncoderConfig.paper()
    assert (cfg.crop_length, cfg.feature_dim, cfg.d_model, cfg.n_heads, cfg.n_blocks) == (
        34560,
        256,
        512,
        8,
        5,
    )
    with torch.device("meta"):
        enc = LightCurveEncoder(cfg)
    # desa_reference.md §4: CNN 2,099,328 + Astroconformer 9,222,656 + projector 395,520
    assert count_parameters(enc.cnn) == 2_099_328
    assert count_parameters(enc.conformer) == 9_222_656
    assert count_parameters(enc.projector) == 395_520
    total = count_parameters(enc)
    assert total == 11_717_504
    assert abs(total - 11.7e6) / 11.7e6 < 0.02


@pytest.mark.parametrize("bad", [torch.zeros(3), torch.zeros(2, 3, 4)])
def test_bad_shapes(bad: torch.Tensor) -> None:
    with pytest.raises(ValueError):
        random_crop(bad, 2)


def test_first_window_starts_at_the_first_finite_sample() -> None:
    from desa.models.lightcurves import first_window

    flux = torch.arange(20, dtype=torch.float32).repeat(3, 1)
    flux[0, :5] = math.nan
    flux[1, :18] = math.nan  # would run past the end: moved back
    out = first_window(flux, 6)
    assert out[0].tolist() == [5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    assert out[1, -2:].tolist() == [18.0, 19.0] and out[1, :4].isnan().all()
    assert out[2].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    short = first_window(flux[:, :4], 6)
    assert short.shape == (3, 6) and short[:, 4:].isnan().all()
