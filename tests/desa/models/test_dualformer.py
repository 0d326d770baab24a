"""DualFormer: shapes, priors, gradients, losses, parameter count (desa_reference.md §4-§5)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from desa.losses import covariance_loss, dual_projection_loss
from desa.models.dualformer import (
    DualFormer,
    DualFormerConfig,
    count_parameters,
    encode_priors,
    freeze,
)

B = 5


def _inputs(cfg: DualFormerConfig, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    spec = torch.randn(B, cfg.spec_tokens, cfg.spec_token_dim, generator=g)
    lc = torch.randn(B, cfg.lc_tokens, cfg.lc_token_dim, generator=g)
    priors = torch.randn(B, cfg.n_priors, generator=g)
    return spec, lc, priors


def _model(**kw: object) -> DualFormer:
    torch.manual_seed(0)
    return DualFormer(DualFormerConfig.demo(**kw)).eval()


def test_shapes() -> None:
    m = _model()
    cfg = m.cfg
    spec, lc, priors = _inputs(cfg)
    out = m(spec, lc, priors)
    d = cfg.width + 2 * cfg.n_priors
    for t in (out.h_spec, out.h_lc, out.e_spec, out.e_lc):
        assert t.shape == (B, d)
    # (B, N) features are accepted as scalar tokens, as in the reference (§4).
    out2 = m(spec.squeeze(-1), lc.squeeze(-1), priors)
    torch.testing.assert_close(out2.e_spec, out.e_spec)
    # e_spec = W h_spec, e_lc = Wᵀ h_lc
    torch.testing.assert_close(out.e_spec, out.h_spec @ m.W.T)
    torch.testing.assert_close(out.e_lc, out.h_lc @ m.W)
    with pytest.raises(ValueError):
        m(spec[:, :-1], lc, priors)


def test_non_shared_input_projection_token_dims() -> None:
    m = _model(spec_token_dim=3, lc_token_dim=4, shared_input_projection=False)
    spec, lc, priors = _inputs(m.cfg)
    assert m(spec, lc, priors).e_lc.shape == (B, m.cfg.embed_dim)


def test_missing_priors_only_through_indicator() -> None:
    m = _model()
    spec, lc, priors = _inputs(m.cfg)
    nan = priors.clone()
    nan[1, 2] = float("nan")
    nan[3] = float("nan")
    zero = torch.where(torch.isnan(nan), torch.zeros_like(nan), nan)
    enc_nan = encode_priors(nan, B, m.cfg.n_priors, spec)
    enc_zero = encode_priors(zero, B, m.cfg.n_priors, spec)
    p = m.cfg.n_priors
    torch.testing.assert_close(enc_nan[:, :p], enc_zero[:, :p])  # values: 0, no NaN
    assert enc_nan[1, p + 2] == 1 and enc_nan[3, p:].eq(1).all()
    assert enc_nan[:, p:].sum() == 1 + p and enc_zero[:, p:].sum() == 0
    # A NaN prior never propagates: every output, the loss and all gradients stay finite.
    m.train()
    out = m(spec, lc, nan)
    assert all(torch.isfinite(t).all() for t in (out.h_spec, out.e_spec, out.e_lc))
    m.loss_terms(out)["total"].backward()
    assert all(torch.isfinite(q.grad).all() for q in m.parameters() if q.grad is not None)
    # None means "all missing".
    assert encode_priors(None, B, p, spec)[:, p:].eq(1).all()


def test_W_gets_gradient_from_each_branch_alone() -> None:
    m = _model()
    spec, lc, priors = _inputs(m.cfg)
    terms = {
        "cov_spec": lambda o: covariance_loss(o.e_spec),
        "cov_lc": lambda o: covariance_loss(o.e_lc),
        "dual_spec": lambda o: torch.einsum("bi,ij,bj->b", o.e_spec, m.W, o.e_spec).pow(2).mean(),
        "dual_lc": lambda o: torch.einsum("bi,ij,bj->b", o.e_lc, m.W, o.e_lc).pow(2).mean(),
    }
    for name, fn in terms.items():
        m.zero_grad(set_to_none=True)
        fn(m(spec, lc, priors)).backward()
        assert m.W.grad is not None and m.W.grad.abs().sum() > 0, name
    # With the transformer cut off, the light-curve branch still reaches W through Wᵀ h_lc.
    m.zero_grad(set_to_none=True)
    o = m(spec, lc, priors)
    covariance_loss(o.h_lc.detach() @ m.W).backward()
    assert m.W.grad.abs().sum() > 0


def test_frozen_encoders_get_no_gradient() -> None:
    m = _model()
    cfg = m.cfg
    torch.manual_seed(1)
    enc_spec = freeze(nn.Sequential(nn.Linear(7, cfg.spec_tokens), nn.Dropout(0.5)))
    enc_lc = freeze(nn.Linear(5, cfg.lc_tokens))
    assert not enc_spec.training and not enc_lc.training
    m.train()
    spec = enc_spec(torch.randn(B, 7))  # (B, Ns) features -> scalar tokens
    lc = enc_lc(torch.randn(B, 5))
    m.loss(spec, lc, torch.randn(B, cfg.n_priors)).backward()
    assert all(p.grad is None for p in [*enc_spec.parameters(), *enc_lc.parameters()])
    assert count_parameters(enc_spec, trainable_only=True) == 0
    assert all(p.grad is not None for p in m.parameters())
    assert m.W.grad.abs().sum() > 0


def test_reference_flag_removes_exactly_the_cross_term() -> None:
    fixed = _model()
    bug = _model(reference_cross_bug=True)
    bug.load_state_dict(fixed.state_dict())
    spec, lc, priors = _inputs(fixed.cfg)
    out = fixed(spec, lc, priors)
    t_fixed = fixed.loss_terms(out)
    t_bug = bug.loss_terms(bug(spec, lc, priors))
    x, y = out.e_spec, out.e_lc
    cross = covariance_loss(x, y, cross=True) - covariance_loss(x, y, cross=False)
    # the cross term by hand: sum_{i != j} Cxy_ij² / d
    xc, yc = x - x.mean(0), y - y.mean(0)
    c = xc.T @ yc / (B - 1)
    by_hand = (c.pow(2).sum() - c.diagonal().pow(2).sum()) / x.shape[1]
    torch.testing.assert_close(cross, by_hand)
    assert by_hand > 0
    torch.testing.assert_close(t_fixed["dual"], t_bug["dual"])
    torch.testing.assert_close(t_fixed["cov"] - t_bug["cov"], by_hand)
    torch.testing.assert_close(t_fixed["total"] - t_bug["total"], 0.5 * by_hand)
    torch.testing.assert_close(t_fixed["dual"], dual_projection_loss(x, y, fixed.W))
    torch.testing.assert_close(
        t_fixed["total"],
        0.5 * dual_projection_loss(x, y, fixed.W)
        + 0.5 * cross
        + 0.5 * covariance_loss(x, y, cross=False),
    )


def test_embed_real() -> None:
    m = _model()
    spec, lc, priors = _inputs(m.cfg)
    for kw in ({}, {"projected": True}, {"reference": True}):
        z = m.embed(spec, lc, priors, **kw)
        assert z.shape == (B, m.cfg.embed_dim) and not z.is_complex() and z.dtype == spec.dtype
        assert torch.isfinite(z).all() and not z.requires_grad


def test_paper_profile_parameter_count() -> None:
    cfg = DualFormerConfig.paper()
    assert (cfg.width, cfg.depth, cfg.heads, cfg.ffn_dim) == (256, 4, 8, 2048)
    assert (cfg.spec_tokens, cfg.lc_tokens, cfg.n_priors, cfg.rotary_dim) == (2048, 256, 6, 16)
    with torch.device("meta"):
        m = DualFormer(cfg)
    n = count_parameters(m)
    w, f, d = 256, 2048, 256 + 2 * 6
    block = 2 * 4 * (w * w + w) + 2 * (w * f + f + 2 * f + f * w + w) + 4 * 2 * w
    assert block == 2_638_336  # §4 table
    assert n == 4 * block + 2 * w + 2 * 2 * w + d * d == 10_626_704
    # issue 4 quotes 10.7 M (§4: 10,690,602 incl. aux heads we do not build and a 262² W)
    assert abs(n - 10.7e6) / 10.7e6 < 0.02
