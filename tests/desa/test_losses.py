"""desa.losses against values worked out by hand, plus coverage and gradient checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from desa.losses import (
    ConformalCorrections,
    apply_calibration,
    conformal_calibrate,
    covariance_loss,
    cqr_loss,
    dual_projection_loss,
    info_nce,
    simsiam_loss,
    vicreg_loss,
)

Q3 = [0.1, 0.5, 0.9]


# ----------------------------------------------------------------------------- CQR


def test_cqr_single_value_by_hand() -> None:
    # pred [1, 2, 3], y = 2.5 -> e = [1.5, 0.5, -0.5]
    # q=.1: max(-.9*1.5, .1*1.5) = 0.15; q=.5: max(-.25, .25) = 0.25;
    # q=.9: max(-.1*-.5, .9*-.5) = 0.05  -> 0.45
    pred = torch.tensor([[[1.0, 2.0, 3.0]]])
    target = torch.tensor([[2.5]])
    assert cqr_loss(pred, target, Q3).item() == pytest.approx(0.45)


def _nan_batch() -> tuple[torch.Tensor, torch.Tensor]:
    pred = torch.tensor(
        [
            [[1.0, 2.0, 3.0], [5.0, 6.0, 7.0]],
            [[1.0, 2.0, 3.0], [0.0, 1.0, 2.0]],
        ],
        requires_grad=True,
    )
    target = torch.tensor([[2.5, math.nan], [0.0, 1.0]])
    return pred, target


def test_cqr_nan_targets_ignored_mean_over_finite() -> None:
    # (0,0): 0.45 (above). (0,1): NaN -> nothing.
    # (1,0): y=0, e = [-1,-2,-3] -> max(.9,-.1) + max(1,-1) + max(.3,-2.7) = 0.9+1+0.3 = 2.2
    # (1,1): y=1, e = [1, 0, -1] -> 0.1 + 0 + 0.1 = 0.2
    # mean over the 3 finite targets: (0.45 + 2.2 + 0.2)/3 = 0.95
    pred, target = _nan_batch()
    loss = cqr_loss(pred, target, Q3)
    assert loss.item() == pytest.approx(0.95)
    loss.backward()
    assert torch.isfinite(pred.grad).all()
    assert torch.equal(pred.grad[0, 1], torch.zeros(3))  # NaN target: no gradient


def test_cqr_weights_multiply() -> None:
    # w = [2, 0.5]: (2*0.45 + 0.5*2.2 + 0.5*0.2)/3 = (0.9 + 1.1 + 0.1)/3 = 0.7
    pred, target = _nan_batch()
    loss = cqr_loss(pred, target, Q3, weight=torch.tensor([2.0, 0.5]))
    assert loss.item() == pytest.approx(0.7)


def test_cqr_nan_targets_with_nan_weights_give_finite_gradients() -> None:
    # Sample 0 has no targets and no weight (a spectrum without catalog labels or SNR):
    # the loss is sample 1's alone, (0.5*2.2 + 0.5*0.2)/2 = 0.6, and no gradient is NaN.
    pred, target = _nan_batch()
    target = target.clone()
    target[0] = math.nan
    weight = torch.tensor([math.nan, 0.5], requires_grad=True)
    loss = cqr_loss(pred, target, Q3, weight=weight)
    assert loss.item() == pytest.approx(0.6)
    loss.backward()
    assert torch.isfinite(pred.grad).all() and torch.isfinite(weight.grad).all()
    assert torch.equal(pred.grad[0], torch.zeros(2, 3))
    assert pred.grad[1].abs().sum() > 0
    assert weight.grad[1].item() == pytest.approx((2.2 + 0.2) / 2)


def test_cqr_a_nan_weight_leaves_its_sample_out() -> None:
    # Targets known, weight unknown: sample 0 is left out like an unknown target, so the
    # loss stays finite: 0.5 * (2.2 + 0.2) / 2 = 0.6 (the weight is not guessed).
    pred, target = _nan_batch()
    loss = cqr_loss(pred, target, Q3, weight=torch.tensor([math.inf, 0.5]))
    assert loss.item() == pytest.approx(0.6)
    loss.backward()
    assert torch.isfinite(pred.grad).all() and torch.equal(pred.grad[0], torch.zeros(2, 3))


def test_cqr_all_nan_is_zero_and_bad_shapes_raise() -> None:
    pred = torch.zeros(2, 1, 3, requires_grad=True)
    loss = cqr_loss(pred, torch.full((2, 1), math.nan), Q3)
    assert loss.item() == 0.0
    loss.backward()
    with pytest.raises(ValueError):
        cqr_loss(torch.zeros(2, 1, 3), torch.zeros(2, 2), Q3)
    with pytest.raises(ValueError):
        cqr_loss(torch.zeros(2, 1, 3), torch.zeros(2, 1), [0.5])


# ----------------------------------------------------------------------- conformal


def _hand_cal() -> tuple[np.ndarray, np.ndarray]:
    # one label, quantiles [.25, .5, .75], lo = 0, median = .5, hi = 1 for every sample
    y = np.array([-1.0, 0.5, 2.0, 3.0, np.nan])[:, None]
    pred = np.tile(np.array([0.0, 0.5, 1.0]), (5, 1, 1))
    return pred, y


def test_conformal_reference_quantile_by_hand() -> None:
    # scores max(0 - y, y - 1): y=-1 -> 1; y=.5 -> -.5; y=2 -> 1; y=3 -> 2; NaN ignored
    # sorted [-0.5, 1, 1, 2]; np.quantile(., 0.5) linear = (1 + 1)/2 = 1
    pred, y = _hand_cal()
    cal = conformal_calibrate(pred, y, [0.25, 0.5, 0.75], finite_sample=False)
    assert cal.corrections.shape == (1, 1)
    assert cal.pairs == ((0, 2),)
    assert cal.corrections[0, 0] == pytest.approx(1.0)


def test_conformal_finite_sample_by_hand() -> None:
    # n = 4 finite, 1 - alpha = 0.5: k = ceil(5 * 0.5) = 3 -> 3rd smallest of [-0.5, 1, 1, 2] = 1
    # change y=2 to y=2.5 (score 1.5): sorted [-0.5, 1, 1.5, 2] -> 3rd = 1.5
    # while np.quantile(., 0.5) = (1 + 1.5)/2 = 1.25
    pred, y = _hand_cal()
    y[2, 0] = 2.5
    fs = conformal_calibrate(pred, y, [0.25, 0.5, 0.75])
    ref = conformal_calibrate(pred, y, [0.25, 0.5, 0.75], finite_sample=False)
    assert fs.corrections[0, 0] == pytest.approx(1.5)
    assert ref.corrections[0, 0] == pytest.approx(1.25)
    # k > n -> an infinite correction (too few samples for the level): n=4, 0.9 -> k=5
    inf = conformal_calibrate(
        np.tile(np.array([0.0, 0.5, 1.0]), (4, 1, 1)), y[:4], [0.05, 0.5, 0.95]
    )
    assert np.isinf(inf.corrections[0, 0])


def test_conformal_finite_false_equals_np_quantile_and_tensors_accepted() -> None:
    rng = np.random.default_rng(0)
    n, nl = 37, 2
    qs = [0.1, 0.25, 0.5, 0.75, 0.9]
    pred = np.sort(rng.normal(size=(n, nl, 5)), axis=-1)
    y = rng.normal(size=(n, nl))
    y[3, 1] = np.nan
    cal = conformal_calibrate(torch.tensor(pred), torch.tensor(y), qs, finite_sample=False)
    assert cal.corrections.shape == (nl, 2)
    assert cal.pairs == ((0, 4), (1, 3))
    for label in range(nl):
        ok = np.isfinite(y[:, label])
        for j, (lo, hi, level) in enumerate([(0, 4, 0.8), (1, 3, 0.5)]):
            s = np.maximum(pred[ok, label, lo] - y[ok, label], y[ok, label] - pred[ok, label, hi])
            assert cal.corrections[label, j] == pytest.approx(np.quantile(s, level))


def test_conformal_coverage_gaussian_near_nominal() -> None:
    rng = np.random.default_rng(1)
    qs = np.array([0.1, 0.25, 0.5, 0.75, 0.9])
    z = np.array([-1.2816, -0.6745, 0.0, 0.6745, 1.2816])

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        mu = rng.normal(size=(n, 1))
        y = mu + rng.normal(size=(n, 1))  # true sigma 1
        pred = mu[..., None] + 0.4 * z  # over-confident model: sigma 0.4
        return pred, y

    pred_cal, y_cal = make(3000)
    pred_test, y_test = make(30000)
    cal = conformal_calibrate(pred_cal, y_cal, qs)
    out = apply_calibration(pred_test, cal)
    for j, (lo, hi) in enumerate(cal.pairs):
        nominal = qs[hi] - qs[lo]
        raw = np.mean((pred_test[:, 0, lo] <= y_test[:, 0]) & (y_test[:, 0] <= pred_test[:, 0, hi]))
        cov = np.mean((out[:, 0, lo] <= y_test[:, 0]) & (y_test[:, 0] <= out[:, 0, hi]))
        assert raw < nominal - 0.15  # uncalibrated is clearly too narrow
        assert abs(cov - nominal) < 0.02, (j, cov, nominal)


def test_apply_calibration_widens_pairs_median_untouched() -> None:
    pred = np.array([[[1.0, 2.0, 3.0, 4.0, 5.0], [0.0, 0.0, 0.0, 0.0, 0.0]]])  # (1, L=2, 5)
    corr = np.array([[0.5, 0.25], [1.0, 2.0]])  # (L, n_pairs)
    cal = ConformalCorrections(corr, ((0, 4), (1, 3)), (0.1, 0.25, 0.5, 0.75, 0.9))
    want = np.array([[[0.5, 1.75, 3.0, 4.25, 5.5], [-1.0, -2.0, 0.0, 2.0, 1.0]]])
    np.testing.assert_allclose(apply_calibration(pred, cal), want)
    np.testing.assert_allclose(apply_calibration(pred, corr), want)  # raw array form
    out_t = apply_calibration(torch.tensor(pred), cal)
    assert isinstance(out_t, torch.Tensor)
    np.testing.assert_allclose(out_t.numpy(), want)
    np.testing.assert_array_equal(out_t.numpy()[..., 2], pred[..., 2])
    assert pred[0, 0, 0] == 1.0  # input not modified


def test_conformal_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="no finite"):
        conformal_calibrate(np.zeros((3, 1, 3)), np.full((3, 1), np.nan), Q3)
    with pytest.raises(ValueError, match="symmetric"):
        conformal_calibrate(np.zeros((3, 1, 3)), np.zeros((3, 1)), [0.1, 0.5, 0.8])


# ------------------------------------------------------------------- covariance


X_HAND = torch.tensor([[1.0, 2.0], [2.0, 4.0], [3.0, 3.0]])
Y_HAND = torch.tensor([[0.0, 1.0], [0.0, -1.0], [3.0, 3.0]])


def test_covariance_loss_by_hand() -> None:
    # X centred [[-1,-1],[0,1],[1,0]] -> Cx = [[1, .5], [.5, 1]] (/(B-1)=2)
    #   off-diag: 2 * .25 = .5, / d=2 -> 0.25
    # Y centred [[-1,0],[-1,-2],[2,2]] -> Cy = [[3, 3], [3, 4]] -> 2 * 9 / 2 = 9
    # Cxy = Xcᵀ Yc / 2: (1,2) = [-1,0,1]·[0,-2,2]/2 = 1; (2,1) = [-1,1,0]·[-1,-1,2]/2 = 0
    #   -> (1 + 0)/2 = 0.5
    assert covariance_loss(X_HAND).item() == pytest.approx(0.25)
    assert covariance_loss(X_HAND, Y_HAND, cross=False).item() == pytest.approx(9.25)
    assert covariance_loss(X_HAND, Y_HAND).item() == pytest.approx(9.75)


def test_covariance_whitened_batch_zero_and_cross_toggles() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g, dtype=torch.float64) @ torch.randn(
        4, 4, generator=g, dtype=torch.float64
    )
    xc = x - x.mean(0)
    c = xc.T @ xc / (x.shape[0] - 1)
    evals, evecs = torch.linalg.eigh(c)
    white = xc @ evecs @ torch.diag(evals.rsqrt()) @ evecs.T  # ZCA: covariance = I
    assert covariance_loss(x).item() > 0.1
    assert covariance_loss(white).item() == pytest.approx(0.0, abs=1e-20)
    # a rotation of a whitened batch is whitened too, but Cxy = R has off-diagonal entries
    r, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
    y = white @ r
    assert covariance_loss(white, y, cross=False).item() == pytest.approx(0.0, abs=1e-20)
    off = (r.pow(2).sum() - torch.diagonal(r).pow(2).sum()).item() / 4
    assert off > 0.05
    assert covariance_loss(white, y).item() == pytest.approx(off)


def test_covariance_bad_shapes() -> None:
    with pytest.raises(ValueError):
        covariance_loss(torch.zeros(1, 3))
    with pytest.raises(ValueError):
        covariance_loss(torch.zeros(4, 3), torch.zeros(4, 2))


# ------------------------------------------------------------------ dual projection


def test_dual_projection_by_hand() -> None:
    # W = [[1,2],[0,1]]
    # b=0: h_s=[1,1]: hᵀWh = 1+2+0+1 = 4; h_l=[1,0]: 1 -> (4-1)² = 9
    # b=1: h_s=[0,1]: 1; h_l=[1,-1]: W h = [-1,-1], hᵀWh = -1+1 = 0 -> (1-0)² = 1
    # mean = 5
    w = torch.tensor([[1.0, 2.0], [0.0, 1.0]])
    hs = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    hl = torch.tensor([[1.0, 0.0], [1.0, -1.0]])
    assert dual_projection_loss(hs, hl, w).item() == pytest.approx(5.0)
    # quadratic in W: doubling W quadruples the loss (on the projections it would be 2⁶)
    assert dual_projection_loss(hs, hl, 2 * w).item() == pytest.approx(20.0)


def test_dual_projection_w_gets_gradient_from_both_branches() -> None:
    g = torch.Generator().manual_seed(0)
    es = torch.randn(5, 3, generator=g, dtype=torch.float64)
    el = torch.randn(5, 3, generator=g, dtype=torch.float64)
    w = torch.randn(3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    # analytic gradient: mean_b 2 r_b (e_s e_sᵀ - e_l e_lᵀ), r_b = e_sᵀWe_s - e_lᵀWe_l
    dual_projection_loss(es, el, w).backward()
    r = torch.einsum("bi,ij,bj->b", es, w, es) - torch.einsum("bi,ij,bj->b", el, w, el)
    outer = torch.einsum("bi,bj->bij", es, es) - torch.einsum("bi,bj->bij", el, el)
    want = (2 * r[:, None, None] * outer).mean(0).detach()
    torch.testing.assert_close(w.grad, want)
    # each branch alone (the other set to zero) drives W
    for a, b in [(es, torch.zeros_like(el)), (torch.zeros_like(es), el)]:
        w.grad = None
        dual_projection_loss(a, b, w).backward()
        assert w.grad.abs().max() > 1e-3


# ------------------------------------------------------------------------ SimSiam


def test_simsiam_by_hand_and_stop_gradient() -> None:
    # cos([1,0],[1,1]) = 1/√2; cos([0,1],[3,4]) = 4/5 -> 0.5 * (-1/√2 - 0.8)
    p1 = torch.tensor([[1.0, 0.0]], requires_grad=True)
    z2 = torch.tensor([[1.0, 1.0]], requires_grad=True)
    p2 = torch.tensor([[0.0, 1.0]], requires_grad=True)
    z1 = torch.tensor([[3.0, 4.0]], requires_grad=True)
    loss = simsiam_loss(p1, z2, p2, z1)
    assert loss.item() == pytest.approx(0.5 * (-1 / math.sqrt(2) - 0.8))
    loss.backward()
    assert z1.grad is None and z2.grad is None  # no gradient into z
    assert p1.grad.abs().sum() > 0 and p2.grad.abs().sum() > 0


def test_simsiam_stop_gradient_through_shared_encoder() -> None:
    # z = f(x) and p = h(z): gradients reach f only through p, never through the z target
    torch.manual_seed(0)
    f = torch.nn.Linear(3, 3)
    x1, x2 = torch.randn(4, 3), torch.randn(4, 3)
    z1, z2 = f(x1), f(x2)
    loss = simsiam_loss(z1 * 0 + 1.0, z2, z2 * 0 + 1.0, z1)  # p independent of f's output
    loss.backward()
    assert f.weight.grad is None or torch.count_nonzero(f.weight.grad) == 0


# ------------------------------------------------------------------------- VICReg


def test_vicreg_by_hand() -> None:
    # x = [[0,0],[2,0]], y = [[0,0],[2,2]]
    # sim: mean of [0,0,0,4] = 1
    # var (unbiased): x -> [2, 0], y -> [2, 2]; std = sqrt(v + 1e-4)
    #   x: relu(1-1.414) = 0, relu(1-0.01) = 0.99 -> mean .495, /2 = .2475; y -> 0
    # cov: Cx = [[2,0],[0,0]] -> 0; Cy = [[2,2],[2,2]] -> 2*4/2 = 4
    # total = 25*1 + 25*.2475 + 1*4 = 35.1875
    x = torch.tensor([[0.0, 0.0], [2.0, 0.0]])
    y = torch.tensor([[0.0, 0.0], [2.0, 2.0]])
    assert vicreg_loss(x, y).item() == pytest.approx(35.1875)
    # weights are applied term by term: 1*1 + 0*var + 2*4 = 9
    assert vicreg_loss(x, y, 1.0, 0.0, 2.0).item() == pytest.approx(9.0)


# ----------------------------------------------------------------------- InfoNCE


def test_info_nce_by_hand() -> None:
    # q = k = I, T = 1: each row logits [1, 0], positive first -> log(1 + e^-1)
    q = torch.eye(2)
    assert info_nce(q, q.clone(), temperature=1.0).item() == pytest.approx(math.log(1 + math.e**-1))
    # T = 0.5 doubles the logits -> log(1 + e^-2); scaling q does not matter (normalised)
    assert info_nce(3 * q, q, temperature=0.5).item() == pytest.approx(math.log(1 + math.e**-2))
    # queue [[-1, 0]]: row 0 logits [1, 0, -1] -> log(1 + e^-1 + e^-2);
    #                  row 1 logits [0, 1, 0]  -> log(1 + 2 e^-1)
    queue = torch.tensor([[-2.0, 0.0]])
    want = 0.5 * (math.log(1 + math.e**-1 + math.e**-2) + math.log(1 + 2 * math.e**-1))
    assert info_nce(q, q, temperature=1.0, queue=queue).item() == pytest.approx(want)


def test_info_nce_positive_is_the_diagonal() -> None:
    # swapping the keys makes each positive the worst match -> a larger loss
    q = torch.eye(2)
    k_swapped = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    assert info_nce(q, k_swapped, temperature=1.0).item() == pytest.approx(math.log(1 + math.e))


def test_losses_are_computed_in_fp32_under_bf16_autocast() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 32, generator=g), torch.randn(64, 32, generator=g)
    W = torch.randn(32, 32, generator=g)
    exact = (covariance_loss(x, y), dual_projection_loss(x, y, W))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = (covariance_loss(x, y), dual_projection_loss(x, y, W))
    for value, reference in zip(mixed, exact, strict=True):
        assert value.dtype == torch.float32
        assert torch.allclose(value, reference, rtol=1e-6)
