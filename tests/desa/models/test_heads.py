"""Tests for desa.models.heads (binary head, monotone age CQR head, conformal calibration)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from desa.models.heads import (
    AgeHead,
    BinaryHead,
    CalibratedAgeModel,
    HeadConfig,
    age_loss,
    binary_loss,
    interval_coverage,
)


def test_config_profiles_and_validation() -> None:
    p = HeadConfig.paper()
    assert (p.in_dim, p.hidden, p.dropout, p.quantiles) == (524, 64, 0.1, (0.14, 0.5, 0.86))
    d = HeadConfig.demo()
    assert d.in_dim < p.in_dim and d.quantiles == p.quantiles
    for bad in [(0.1, 0.9), (0.2, 0.5, 0.9), (0.5, 0.14, 0.86), (0.0, 0.5, 1.0)]:
        with pytest.raises(ValueError):
            HeadConfig(quantiles=bad)
    with pytest.raises(ValueError):
        HeadConfig(dropout=1.0)


def test_shapes_and_bad_input() -> None:
    cfg = HeadConfig.demo()
    x = torch.randn(5, cfg.in_dim)
    assert BinaryHead(cfg)(x).shape == (5,)
    assert AgeHead(cfg)(x).shape == (5, 1, 3)
    with pytest.raises(ValueError):
        AgeHead(cfg)(torch.randn(5, cfg.in_dim + 1))
    x[0, 0] = float("nan")
    with pytest.raises(ValueError):
        BinaryHead(cfg)(x)


def test_binary_loss_by_hand_and_nan_labels() -> None:
    logits = torch.tensor([0.0, 2.0, -1.0, 5.0], requires_grad=True)
    labels = torch.tensor([1.0, 0.0, float("nan"), float("nan")])
    loss = binary_loss(logits, labels)
    # mean of -log(sigmoid(0)) and -log(1 - sigmoid(2)) over the two finite labels
    expected = (math.log(2.0) + (2.0 + math.log1p(math.exp(-2.0)))) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert logits.grad[2] == 0 and logits.grad[3] == 0  # NaN labels contribute nothing
    # changing the logits of NaN-labelled rows does not change the loss
    other = torch.tensor([0.0, 2.0, 30.0, -30.0])
    assert binary_loss(other, labels).item() == pytest.approx(expected, rel=1e-6)
    # pos_weight multiplies the positive term only
    pw = binary_loss(logits.detach(), labels, pos_weight=3.0)
    assert pw.item() == pytest.approx((3 * math.log(2.0) + 2.0 + math.log1p(math.exp(-2.0))) / 2)
    # all-NaN: 0, still differentiable
    z = binary_loss(logits, torch.full((4,), float("nan")))
    assert z.item() == 0.0 and z.requires_grad
    with pytest.raises(ValueError):
        binary_loss(logits, torch.tensor([0.0, 2.0, 1.0, 0.0]))


def test_binary_head_learns_separable_toy() -> None:
    torch.manual_seed(0)
    cfg = HeadConfig(in_dim=8, hidden=16, dropout=0.1)
    w = torch.randn(8)
    x = torch.randn(400, 8)
    y = (x @ w > 0).float()
    y_train = y.clone()
    y_train[::7] = float("nan")  # some unlabelled stars
    head = BinaryHead(cfg)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        binary_loss(head(x), y_train).backward()
        opt.step()
    head.eval()
    x_test = torch.randn(1000, 8)
    with torch.no_grad():
        score = head(x_test)
    assert roc_auc_score((x_test @ w > 0).numpy(), score.numpy()) > 0.95


@pytest.mark.parametrize("quantiles", [(0.14, 0.5, 0.86), (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)])
def test_age_quantiles_monotone_for_random_inputs(quantiles) -> None:
    torch.manual_seed(1)
    cfg = HeadConfig(in_dim=12, hidden=32, dropout=0.0, quantiles=quantiles)
    head = AgeHead(cfg)
    with torch.no_grad():
        pred = head(3 * torch.randn(2000, 12))
        assert pred.shape == (2000, 1, len(quantiles))
        assert (pred.diff(dim=-1) > 0).all()  # strictly increasing at ordinary scales
        for p in head.parameters():  # huge random weights: a crossing would show up here
            p.mul_(5.0)
        pred = head(10 * torch.randn(2000, 12))
    assert torch.isfinite(pred).all()
    assert (pred.diff(dim=-1) >= 0).all()  # never crosses (gaps may underflow to 0)


def test_age_loss_is_cqr_and_skips_nan() -> None:
    q = (0.14, 0.5, 0.86)
    pred = torch.tensor([[[1.0, 2.0, 3.0]], [[0.0, 0.0, 0.0]]])
    y = torch.tensor([2.5, float("nan")])
    # e = 2.5 - pred = [1.5, 0.5, -0.5]: 0.14*1.5 + 0.5*0.5 + (0.86-1)*(-0.5)
    assert age_loss(pred, y, q).item() == pytest.approx(0.21 + 0.25 + 0.07)
    assert age_loss(pred, y[:, None], q).item() == pytest.approx(0.53)
    # through a head, an unknown age with an unknown weight leaves every gradient finite
    torch.manual_seed(0)
    head = AgeHead(HeadConfig(in_dim=4, hidden=8, dropout=0.0, quantiles=q))
    loss = age_loss(head(torch.randn(2, 4)), y, q, weight=torch.tensor([1.0, float("nan")]))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)


def _hetero(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(n, 4, generator=gen) * 2 - 1
    sigma = 0.2 + 1.0 * x[:, 1].abs()  # heteroscedastic noise
    y = 5.0 + 2.0 * x[:, 0] + sigma * torch.randn(n, generator=gen)
    return x, y


def test_conformal_calibration_restores_coverage() -> None:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    cfg = HeadConfig(in_dim=4, hidden=64, dropout=0.0, quantiles=(0.14, 0.5, 0.86))
    x_tr, y_tr = _hetero(60, gen)  # small training set: the head overfits, intervals too narrow
    x_cal, y_cal = _hetero(2000, gen)
    x_te, y_te = _hetero(4000, gen)
    head = AgeHead(cfg)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(400):
        opt.zero_grad()
        age_loss(head(x_tr), y_tr, cfg.quantiles).backward()
        opt.step()

    model = CalibratedAgeModel(head)
    with pytest.raises(RuntimeError):
        model.predict(x_te)
    raw_te = model.raw_predict(x_te)
    corr = model.calibrate(model.raw_predict(x_cal), y_cal)
    assert corr.corrections.shape == (1, 1)
    cal_te = model.predict(x_te)

    nominal = 0.86 - 0.14
    raw_cov = model.coverage(raw_te, y_te)[(0.14, 0.86)]
    cal_cov = model.coverage(cal_te, y_te)[(0.14, 0.86)]
    assert abs(cal_cov - nominal) <= 0.03, (raw_cov, cal_cov)
    assert raw_cov < nominal - 0.05, (raw_cov, cal_cov)
    # median untouched, pair widened by the stored correction
    torch.testing.assert_close(cal_te[..., 1], raw_te[..., 1], rtol=0, atol=0)
    c = float(corr.corrections[0, 0])
    assert c > 0
    torch.testing.assert_close(cal_te[..., 0], raw_te[..., 0] - c)
    torch.testing.assert_close(cal_te[..., 2], raw_te[..., 2] + c)


def test_interval_coverage_by_hand() -> None:
    pred = np.array([[[0.0, 1.0, 2.0]]] * 4)
    y = np.array([1.0, 2.0, 3.0, np.nan])  # inside, on the edge, outside, skipped
    cov = interval_coverage(pred, y, (0.1, 0.5, 0.9))
    assert cov == {(0.1, 0.9): pytest.approx(2 / 3)}
    with pytest.raises(ValueError):
        interval_coverage(pred, np.full(4, np.nan), (0.1, 0.5, 0.9))
