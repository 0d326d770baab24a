import dataclasses

import pytest
import torch
from torch import nn

from desa.losses import info_nce
from desa.models.baselines import (
    BaselineConfig,
    MoCoAligner,
    SimSiamAligner,
    VICRegAligner,
)
from desa.models.dualformer import freeze
from desa.models.layers import count_parameters

# no priors: these tests call the projection heads on the features directly
CFG = BaselineConfig.demo(queue_size=10, momentum=0.9, n_priors=0)


def _feats(b=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, CFG.spec_dim, generator=g), torch.randn(b, CFG.lc_dim, generator=g)


def _perturb_queries(model):
    with torch.no_grad():
        for p in (*model.spec_q.parameters(), *model.lc_q.parameters()):
            p.add_(torch.randn_like(p))


def test_configs():
    p = BaselineConfig.paper()
    assert (p.spec_dim, p.lc_dim, p.embed_dim, p.queue_size, p.temperature) == (
        2048,
        256,
        512,
        4096,
        0.05,
    )
    assert BaselineConfig.demo(embed_dim=4).embed_dim == 4
    with pytest.raises(ValueError):
        BaselineConfig.demo(temperature=0.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.embed_dim = 3  # frozen


def test_paper_profile_builds_on_meta():
    with torch.device("meta"):
        m = MoCoAligner(BaselineConfig.paper())
    c = BaselineConfig.paper()
    head = lambda i: i * c.hidden + c.hidden + 2 * c.hidden + c.hidden * c.embed_dim + c.embed_dim  # noqa: E731
    p = 2 * c.n_priors  # encoded priors (values + missing-indicators) appended to each feature
    assert count_parameters(m, trainable_only=True) == head(2048 + p) + head(256 + p)
    assert count_parameters(m) == 2 * (head(2048 + p) + head(256 + p))


def test_momentum_update_exact_ema_and_no_grad():
    torch.manual_seed(0)
    m = MoCoAligner(CFG).train()
    for pq, pk in zip(m.spec_q.parameters(), m.spec_k.parameters(), strict=True):
        assert torch.equal(pq, pk)  # key heads start as a copy
    _perturb_queries(m)
    q = {n: p.detach().clone() for n, p in m.named_parameters() if n.startswith(("spec_q", "lc_q"))}
    k = {n: p.detach().clone() for n, p in m.named_parameters() if n.startswith(("spec_k", "lc_k"))}
    loss = m.loss(*_feats())
    loss.backward()
    for name, k_old in k.items():
        qn = name.replace("spec_k", "spec_q").replace("lc_k", "lc_q")
        k_new = dict(m.named_parameters())[name]
        torch.testing.assert_close(k_new, 0.9 * k_old + 0.1 * q[qn], rtol=0, atol=1e-6)
        assert not k_new.requires_grad and k_new.grad is None
    assert all(p.grad is not None for n, p in m.named_parameters() if n.startswith("spec_q"))


def test_queue_is_fifo_of_last_keys():
    torch.manual_seed(0)
    m = MoCoAligner(CFG).train()
    keys_s, keys_l = [], []
    for i in range(4):  # 4 x 4 = 16 keys through a queue of 10
        s, lc = _feats(4, seed=i)
        m.loss(s, lc)
        with torch.no_grad():  # the keys enqueued were computed with the updated key heads
            keys_s.append(m.spec_k(s))
            keys_l.append(m.lc_k(lc))
        n = min(4 * (i + 1), 10)
        assert int(m.queue_len) == n
        torch.testing.assert_close(m.queued("spec"), torch.cat(keys_s)[-n:])
        torch.testing.assert_close(m.queued("lc"), torch.cat(keys_l)[-n:])


def test_queue_is_used_as_negatives():
    torch.manual_seed(0)
    m = MoCoAligner(CFG).eval()  # eval: no update, but the queue is read
    s, lc = _feats()
    no_queue = m.loss(s, lc)
    with torch.no_grad():
        m.queue_spec.normal_()
        m.queue_lc.normal_()
        m.queue_len.fill_(10)
        q_s, q_l, k_s, k_l = m.spec_q(s), m.lc_q(lc), m.spec_k(s), m.lc_k(lc)
    t = CFG.temperature
    expected = 0.5 * (info_nce(q_s, k_l, t, m.queue_lc) + info_nce(q_l, k_s, t, m.queue_spec))
    got = m.loss(s, lc)
    torch.testing.assert_close(got, expected)
    assert got > no_queue  # more negatives
    assert int(m.queue_len) == 10 and int(m.queue_ptr) == 0  # eval mode enqueues nothing


def test_reference_flag_disables_momentum_and_queue():
    torch.manual_seed(0)
    m = MoCoAligner(CFG, reference=True).train()
    assert m.queue_spec.shape[0] == 0
    assert not all(
        torch.equal(a, b) for a, b in zip(m.spec_q.parameters(), m.spec_k.parameters(), strict=True)
    )  # separately initialised key heads
    _perturb_queries(m)
    k = [p.detach().clone() for p in (*m.spec_k.parameters(), *m.lc_k.parameters())]
    s, lc = _feats()
    loss = m.loss(s, lc)
    loss.backward()
    for old, new in zip(k, (*m.spec_k.parameters(), *m.lc_k.parameters()), strict=True):
        assert torch.equal(old, new)
    assert int(m.queue_len) == 0
    with torch.no_grad():
        q_s, q_l, k_s, k_l = m.spec_q(s), m.lc_q(lc), m.spec_k(s), m.lc_k(lc)
    t = CFG.temperature
    torch.testing.assert_close(loss, 0.5 * (info_nce(q_s, k_l, t) + info_nce(q_l, k_s, t)))


def test_info_nce_positives_on_diagonal():
    x = torch.randn(8, 5, generator=torch.Generator().manual_seed(1))
    aligned = info_nce(x, x, 0.1)
    shuffled = info_nce(x, x[torch.roll(torch.arange(8), 1)], 0.1)
    assert aligned < shuffled


def _frozen_encoders():
    enc_s, enc_l = freeze(nn.Linear(5, CFG.spec_dim)), freeze(nn.Linear(3, CFG.lc_dim))
    g = torch.Generator().manual_seed(2)
    x_s, x_l = torch.randn(6, 5, generator=g), torch.randn(6, 3, generator=g)
    return enc_s, enc_l, enc_s(x_s), enc_l(x_l)


@pytest.mark.parametrize(
    "make",
    [
        lambda: (lambda m: (m, m.loss))(MoCoAligner(CFG)),
        lambda: (lambda m: (m, m.loss))(SimSiamAligner(CFG)),
        lambda: (lambda m: (m, m.loss))(VICRegAligner(CFG)),
    ],
)
def test_losses_reach_heads_not_frozen_encoders(make):
    torch.manual_seed(0)
    model, loss_fn = make()
    enc_s, enc_l, f_s, f_l = _frozen_encoders()
    f_s.requires_grad_(True)  # even a feature that asks for gradients gets none
    loss = loss_fn(f_s, f_l)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert f_s.grad is None
    assert all(p.grad is None for p in (*enc_s.parameters(), *enc_l.parameters()))
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable and all(p.grad is not None for p in trainable)
    assert sum(p.grad.abs().sum() for p in trainable) > 0


@pytest.mark.parametrize("cls", [MoCoAligner, SimSiamAligner, VICRegAligner])
def test_losses_decrease_with_training(cls):
    torch.manual_seed(0)
    model = cls(CFG)
    loss_fn = model.loss
    s, lc = _feats(16)
    lc = s[:, : CFG.lc_dim]  # the two "modalities" are related views
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    first = loss_fn(s, lc).item()
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn(s, lc)
        loss.backward()
        opt.step()
    assert loss_fn(s, lc).item() < first


def test_embeddings():
    s, lc = _feats()
    assert MoCoAligner(CFG).embed(s, lc).shape == (6, CFG.embed_dim)
    assert SimSiamAligner(CFG).embed(s, lc).shape == (6, 2 * CFG.embed_dim)
    assert VICRegAligner(CFG).embed(s, lc).shape == (6, CFG.embed_dim)


def test_bad_input():
    s, lc = _feats()
    m = MoCoAligner(CFG)
    with pytest.raises(ValueError):
        m.loss(s, lc[:3])
    with pytest.raises(ValueError):
        m.loss(lc, s)
    bad = s.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError):
        m.loss(bad, lc)
    assert int(m.queue_len) == 0


@pytest.mark.parametrize("aligner", [MoCoAligner, SimSiamAligner, VICRegAligner])
def test_aligners_read_the_encoded_priors(aligner):
    """Every aligner sees the priors as the DualFormer does: values plus missing-indicators
    appended to both features. A known prior and the same prior missing (NaN) embed apart,
    a missing prior is not the value 0, and the embedding follows the prior's value."""
    cfg = dataclasses.replace(CFG, n_priors=2)
    torch.manual_seed(0)
    m = aligner(cfg).eval()
    s, lc = _feats(4)
    known = torch.tensor([[1.0, 0.5]] * 4)
    zero = torch.tensor([[0.0, 0.5]] * 4)
    missing = torch.tensor([[float("nan"), 0.5]] * 4)
    with torch.no_grad():
        e_known, e_zero, e_missing = (m.embed(s, lc, p) for p in (known, zero, missing))
    assert not torch.allclose(e_known, e_zero)
    assert not torch.allclose(e_zero, e_missing)
    assert torch.isfinite(m.loss(s, lc, missing))
    with pytest.raises(ValueError, match="priors must be"):
        m.embed(s, lc, torch.zeros(4, 3))
