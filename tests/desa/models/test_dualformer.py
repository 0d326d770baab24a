"""DualFormer: shapes, priors, gradients, losses, parameter count (desa_reference.md §4-§5)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from desa.losses import covariance_loss, dual_projection_loss
from desa.models.dualformer import (
    DualFormer,
    DualFormerConfig,
    encode_priors,
    freeze,
    w_diagnostics,
)
from desa.models.layers import count_parameters

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
        "dual_spec": lambda o: torch.einsum("bi,ij,bj->b", o.h_spec, m.W, o.h_spec).pow(2).mean(),
        "dual_lc": lambda o: torch.einsum("bi,ij,bj->b", o.h_lc, m.W, o.h_lc).pow(2).mean(),
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
    dual = dual_projection_loss(out.h_spec, out.h_lc, fixed.W)
    torch.testing.assert_close(t_fixed["dual"], dual)
    torch.testing.assert_close(
        t_fixed["total"],
        0.5 * dual + 0.5 * cross + 0.5 * covariance_loss(x, y, cross=False),
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


# ------------------------------------------------------------ the objective's vectors


def test_dual_term_is_on_the_vectors_before_projection() -> None:
    m = _model()
    out = m(*_inputs(m.cfg))
    terms = m.loss_terms(out)
    torch.testing.assert_close(terms["dual"], dual_projection_loss(out.h_spec, out.h_lc, m.W))
    on_projections = dual_projection_loss(out.e_spec, out.e_lc, m.W)
    assert not torch.isclose(terms["dual"], on_projections, rtol=1e-2)
    # the covariance term stays on the projections
    torch.testing.assert_close(terms["cov"], covariance_loss(out.e_spec, out.e_lc))


def test_dual_term_by_hand_through_the_model() -> None:
    # Final LayerNorms with weight 0 and bias b pool to exactly b, whatever the tokens:
    #   h_spec = [b_s ; p ; missing],  h_lc = [b_l ; p ; missing].
    # b_s = e_0 + e_1, b_l = 3 e_1; W has W[0, width] = 1 (pooled dim 0 x prior 0), W[1,1] = 2:
    #   h_specᵀ W h_spec = 1 * p_0 + 2 * 1² = p_0 + 2,  h_lcᵀ W h_lc = 0 * p_0 + 2 * 3² = 18
    #   -> residual p_0 - 16. Priors p_0 = 16, 18, 12, 26, missing (value 0):
    #   residuals 0, 2, -4, 10, -16 -> mean of squares (0 + 4 + 16 + 100 + 256) / 5 = 75.2
    m = _model()
    cfg = m.cfg
    with torch.no_grad():
        for norm in (m.norm_spec, m.norm_lc):
            norm.weight.zero_()
            norm.bias.zero_()
        m.norm_spec.bias[:2] = 1.0
        m.norm_lc.bias[1] = 3.0
        m.W.zero_()
        m.W[0, cfg.width] = 1.0
        m.W[1, 1] = 2.0
    spec, lc, priors = _inputs(cfg)
    priors[:, 0] = torch.tensor([16.0, 18.0, 12.0, 26.0, float("nan")])
    terms = m.loss_terms(m(spec, lc, priors))
    assert terms["dual"].item() == pytest.approx(75.2)


def test_w_diagnostics() -> None:
    w = torch.tensor([[0.0, -2.0], [2.0, 0.0]])  # eigenvalues ±2i
    d = w_diagnostics(w)
    assert d["w_norm"] == pytest.approx(8**0.5) and d["w_eig"] == pytest.approx(2.0)
    m = _model()
    d = w_diagnostics(m.W)
    assert d["w_norm"] == pytest.approx(m.W.detach().norm().item())


# ------------------------------------------------------------------------ ablations


def test_attention_modes_change_the_computation() -> None:
    both = _model()
    spec, lc, priors = _inputs(both.cfg)
    lc2 = _inputs(both.cfg, seed=1)[1]
    outs = {}
    for mode in ("both", "self", "cross"):
        m = _model(attention=mode)
        m.load_state_dict(both.state_dict())  # same weights: only the mode differs
        outs[mode] = (m(spec, lc, priors), m(spec, lc2, priors))
        assert outs[mode][0].h_spec.shape == (B, m.cfg.embed_dim)
    # self only: the spectra branch never sees the light curve; cross and both do.
    torch.testing.assert_close(outs["self"][0].h_spec, outs["self"][1].h_spec)
    for mode in ("both", "cross"):
        assert not torch.allclose(outs[mode][0].h_spec, outs[mode][1].h_spec)
    for a, b in (("both", "self"), ("both", "cross"), ("self", "cross")):
        assert not torch.allclose(outs[a][0].h_spec, outs[b][0].h_spec), (a, b)
    # "both" sums the two attentions before the (zero-bias) output projection.
    attn = {mode: _model(attention=mode).blocks[0].attn for mode in ("both", "self", "cross")}
    for a in attn.values():
        a.load_state_dict(attn["both"].state_dict())
    xs, xl = torch.randn(B, both.cfg.spec_tokens, both.cfg.width), torch.randn(B, 8, 16)
    got = [attn[mode](xs, xl) for mode in ("both", "self", "cross")]
    for i in range(2):
        torch.testing.assert_close(got[0][i], got[1][i] + got[2][i])


def test_projection_modes() -> None:
    t = _model()
    s = _model(projection="shared")
    s.load_state_dict(t.state_dict())
    inputs = _inputs(t.cfg)
    ot, os_ = t(*inputs), s(*inputs)
    torch.testing.assert_close(os_.e_lc, os_.h_lc @ s.W.T)  # W h_lc
    torch.testing.assert_close(ot.e_lc, ot.h_lc @ t.W)  # Wᵀ h_lc
    torch.testing.assert_close(os_.e_spec, ot.e_spec)
    assert not torch.allclose(os_.e_lc, ot.e_lc)
    tt, ts = t.loss_terms(ot), s.loss_terms(os_)
    torch.testing.assert_close(tt["dual"], ts["dual"])  # hᵀWh is the same quadratic form
    assert not torch.isclose(tt["cov"], ts["cov"])


def test_bad_ablation_settings_raise() -> None:
    with pytest.raises(ValueError, match="attention"):
        DualFormerConfig.demo(attention="cross_self")
    with pytest.raises(ValueError, match="projection"):
        DualFormerConfig.demo(projection="transposed")
    with pytest.raises(ValueError, match="n_priors"):
        DualFormerConfig.demo(n_priors=-1)


def test_no_priors() -> None:
    m = _model(n_priors=0)
    assert m.cfg.embed_dim == m.cfg.width and m.W.shape == (m.cfg.width, m.cfg.width)
    spec, lc, _ = _inputs(m.cfg)
    priors = torch.randn(B, 6)
    out = m(spec, lc, priors)  # priors given to a model without priors are not used
    for t in (out.h_spec, out.h_lc, out.e_spec, out.e_lc):
        assert t.shape == (B, m.cfg.width)
    torch.testing.assert_close(m(spec, lc).h_spec, out.h_spec)
    m.train()
    m.loss(spec, lc, priors).backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters())
    assert m.embed(spec, lc).shape == (B, m.cfg.width)
