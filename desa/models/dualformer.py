"""DualFormer: alignment of frozen spectra and light-curve features (desa_reference.md §4-§5).

Plain ``nn.Module``s; the training loop lives elsewhere. Naming follows the reference with the
modalities spelled out: ``spec`` = the reference's x1/emb1/proj1, ``lc`` = x2/emb2/proj2 (§4).

Deviations from the reference, each stated in §4 or issue 4:
- missing prior labels are encoded as value 0 plus one missing-indicator per prior (the
  reference fills NaN with -1, a valid-looking value), so the pooled+prior width is
  ``width + 2 * n_priors`` (268 for the paper profile instead of the reference's 262);
- the between-branch covariance term is added (``reference_cross_bug=True`` drops it, §4);
- the auxiliary MLP heads of ``DualNet`` (unused when the encoders are frozen) are not built.

Ablation settings (paper §3.2 / Fig. 2): ``attention`` "both" (the reference's
``cross_self``: cross- and self-attention summed), "self" or "cross"; ``projection``
"transpose" (W h_spec and Wᵀ h_lc, the reference's ``projection_type: transpose``) or "shared"
(W for both). ``n_priors=0`` gives a DualFormer without prior labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from desa.losses import covariance_loss, dual_projection_loss
from desa.models.configs import DualFormerConfig
from desa.models.eigenspace import eigenspace, project

__all__ = [
    "DualFormer",
    "DualFormerBlock",
    "DualFormerConfig",
    "DualFormerOutput",
    "encode_priors",
    "freeze",
    "w_diagnostics",
]


def freeze(module: nn.Module) -> nn.Module:
    """Freeze an encoder in place: no gradients, eval mode (``freeze_backbone: True``, §4).

    A later ``.train()`` on a parent module switches it back to train mode (dropout); call
    ``freeze`` again after that, or keep the encoder outside the trained module.
    """
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()


def encode_priors(
    priors: torch.Tensor | None, batch: int, n_priors: int, like: torch.Tensor
) -> torch.Tensor:
    """(B, P) priors with NaN/inf for missing -> (B, 2P) = [value or 0 ; missing indicator].

    A missing prior reaches the model only through its indicator (issue 4; the reference's
    ``nan_to_num(-1)`` made "missing" look like a valid -1, §4). ``None`` = all missing.
    """
    if priors is None:
        priors = torch.full((batch, n_priors), float("nan"), dtype=like.dtype, device=like.device)
    if priors.shape != (batch, n_priors):
        raise ValueError(f"priors must be ({batch}, {n_priors}); got {tuple(priors.shape)}")
    priors = priors.to(dtype=like.dtype, device=like.device)
    ok = torch.isfinite(priors)
    values = torch.where(ok, priors, torch.zeros_like(priors))
    return torch.cat([values, (~ok).to(like.dtype)], dim=-1)


@torch.no_grad()
def w_diagnostics(W: torch.Tensor) -> dict[str, float]:
    """‖W‖ (Frobenius) and the leading |λ| of W (largest-magnitude eigenvalue, complex in
    general): both go to 0 if training collapses W, which makes both losses vanish."""
    w = W.detach().float().cpu()
    return {
        "w_norm": float(torch.linalg.matrix_norm(w)),
        "w_eig": float(torch.linalg.eigvals(w).abs().max()),
    }


def _rotate(x: torch.Tensor, cfg: DualFormerConfig) -> torch.Tensor:
    """RoPE on the first ``rotary_dim`` head dims; positions = token index (§4)."""
    rd = cfg.rotary_dim
    if rd == 0:
        return x
    n = x.shape[-2]
    inv = 1.0 / cfg.rotary_base ** (
        torch.arange(0, rd, 2, device=x.device, dtype=torch.float32) / rd
    )
    ang = torch.arange(n, device=x.device, dtype=torch.float32)[:, None] * inv  # (N, rd/2)
    ang = torch.cat([ang, ang], dim=-1)
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    xr, xp = x[..., :rd], x[..., rd:]
    x1, x2 = xr[..., : rd // 2], xr[..., rd // 2 :]
    rotated = torch.cat([-x2, x1], dim=-1)
    return torch.cat([xr * cos + rotated * sin, xp], dim=-1)


class DualAttention(nn.Module):
    """``cross_self`` attention: a_s = out_s(Attn(q_s,k_l,v_l) + Attn(q_s,k_s,v_s)), same for lc.

    ``attention="self"`` keeps only Attn(q_s,k_s,v_s) (the branches then meet only in the
    loss), ``"cross"`` only Attn(q_s,k_l,v_l); the same q/k/v layers serve every mode.
    """

    def __init__(self, cfg: DualFormerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.qkv_spec = nn.ModuleList(nn.Linear(w, w) for _ in range(3))
        self.qkv_lc = nn.ModuleList(nn.Linear(w, w) for _ in range(3))
        self.out_spec = nn.Linear(w, w)
        self.out_lc = nn.Linear(w, w)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.cfg.heads, self.cfg.head_dim).transpose(1, 2)

    def _attn(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        p = self.cfg.attention_dropout if self.training else 0.0
        return F.scaled_dot_product_attention(q, k, v, dropout_p=p)

    def forward(self, xs: torch.Tensor, xl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Queries and keys are rotated with their own modality's positions (§4).
        qs, ks, vs = (self._split(lin(xs)) for lin in self.qkv_spec)
        ql, kl, vl = (self._split(lin(xl)) for lin in self.qkv_lc)
        qs, ks, ql, kl = (_rotate(t, self.cfg) for t in (qs, ks, ql, kl))
        a_s, a_l = self._mix(qs, ks, vs, ql, kl, vl)
        b = xs.shape[0]
        a_s = a_s.transpose(1, 2).reshape(b, xs.shape[1], self.cfg.width)
        a_l = a_l.transpose(1, 2).reshape(b, xl.shape[1], self.cfg.width)
        return self.out_spec(a_s), self.out_lc(a_l)

    def _mix(self, qs, ks, vs, ql, kl, vl) -> tuple[torch.Tensor, torch.Tensor]:
        mode = self.cfg.attention
        if mode == "self":
            return self._attn(qs, ks, vs), self._attn(ql, kl, vl)
        if mode == "cross":
            return self._attn(qs, kl, vl), self._attn(ql, ks, vs)
        return (
            self._attn(qs, kl, vl) + self._attn(qs, ks, vs),
            self._attn(ql, ks, vs) + self._attn(ql, kl, vl),
        )


def _ffn(cfg: DualFormerConfig) -> nn.Sequential:
    """Linear -> GELU -> LayerNorm(ffn) -> Linear -> Dropout, as executed (§4)."""
    return nn.Sequential(
        nn.Linear(cfg.width, cfg.ffn_dim),
        nn.GELU(),
        nn.LayerNorm(cfg.ffn_dim),
        nn.Linear(cfg.ffn_dim, cfg.width),
        nn.Dropout(cfg.dropout),
    )


class DualFormerBlock(nn.Module):
    """Pre-norm block: x += Dropout(DualAttention(LN(x))); x += FFN(LN(x)) per modality (§4)."""

    def __init__(self, cfg: DualFormerConfig) -> None:
        super().__init__()
        w = cfg.width
        self.norm1_spec, self.norm1_lc = nn.LayerNorm(w), nn.LayerNorm(w)
        self.attn = DualAttention(cfg)
        self.drop = nn.Dropout(cfg.dropout)
        self.norm2_spec, self.norm2_lc = nn.LayerNorm(w), nn.LayerNorm(w)
        self.ffn_spec, self.ffn_lc = _ffn(cfg), _ffn(cfg)

    def forward(self, xs: torch.Tensor, xl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a_s, a_l = self.attn(self.norm1_spec(xs), self.norm1_lc(xl))
        xs = xs + self.drop(a_s)
        xl = xl + self.drop(a_l)
        xs = xs + self.ffn_spec(self.norm2_spec(xs))
        xl = xl + self.ffn_lc(self.norm2_lc(xl))
        return xs, xl


@dataclass(frozen=True)
class DualFormerOutput:
    """h_*: pooled vector with priors (B, d) (reference e1/e2); e_*: projections (B, d)."""

    h_spec: torch.Tensor
    h_lc: torch.Tensor
    e_spec: torch.Tensor  # W h_spec (reference proj1)
    e_lc: torch.Tensor  # Wᵀ h_lc (reference proj2); W h_lc with projection="shared"


class DualFormer(nn.Module):
    """Aligns frozen-encoder token features of spectra and light curves (§4)."""

    def __init__(self, cfg: DualFormerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.in_spec = nn.Linear(cfg.spec_token_dim, cfg.width)
        self.in_lc = (
            self.in_spec if cfg.shared_input_projection else nn.Linear(cfg.lc_token_dim, cfg.width)
        )
        self.blocks = nn.ModuleList(DualFormerBlock(cfg) for _ in range(cfg.depth))
        self.norm_spec, self.norm_lc = nn.LayerNorm(cfg.width), nn.LayerNorm(cfg.width)
        # The one bias-free projection W (d x d), d = width + 2 * n_priors.
        self.projection = nn.Linear(cfg.embed_dim, cfg.embed_dim, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """deepnorm_init with beta=1: xavier_normal weights, zero biases (§4)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    @property
    def W(self) -> torch.Tensor:
        return self.projection.weight

    def _tokens(self, x: torch.Tensor, n: int, dim: int, name: str) -> torch.Tensor:
        if x.ndim == 2 and dim == 1:
            x = x.unsqueeze(-1)  # (B, N) feature -> (B, N, 1) scalar tokens (§4)
        if x.ndim != 3 or x.shape[1:] != (n, dim):
            raise ValueError(f"{name} tokens must be (B, {n}, {dim}); got {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} tokens contain NaN or inf")
        return x

    def forward(
        self, spec: torch.Tensor, lc: torch.Tensor, priors: torch.Tensor | None = None
    ) -> DualFormerOutput:
        """spec (B, Ns, Ds) or (B, Ns); lc (B, Nl, Dl) or (B, Nl); priors (B, P), NaN = missing.

        A model with ``n_priors=0`` takes no priors: whatever is passed is not used.
        """
        cfg = self.cfg
        spec = self._tokens(spec, cfg.spec_tokens, cfg.spec_token_dim, "spectra")
        lc = self._tokens(lc, cfg.lc_tokens, cfg.lc_token_dim, "light-curve")
        if spec.shape[0] != lc.shape[0]:
            raise ValueError(f"batch sizes differ: {spec.shape[0]} vs {lc.shape[0]}")
        xs, xl = self.in_spec(spec), self.in_lc(lc)
        for block in self.blocks:
            xs, xl = block(xs, xl)
        ps = self.norm_spec(xs).mean(1)  # final LayerNorm, then mean pooling (§4)
        pl = self.norm_lc(xl).mean(1)
        # Priors appended after pooling, to both branches (§4 "latent").
        p = encode_priors(priors if cfg.n_priors else None, ps.shape[0], cfg.n_priors, ps)
        h_spec, h_lc = torch.cat([ps, p], -1), torch.cat([pl, p], -1)
        e_spec = self.projection(h_spec)  # W h_spec
        # Wᵀ h_lc (`projection_type: transpose`), or W h_lc for the "shared" ablation.
        e_lc = F.linear(h_lc, self.W.T) if cfg.projection == "transpose" else self.projection(h_lc)
        return DualFormerOutput(h_spec, h_lc, e_spec, e_lc)

    def loss_terms(self, out: DualFormerOutput) -> dict[str, torch.Tensor]:
        """The dual-projection term on the vectors before projection (h), the covariance term
        on the projections (e), and their weighted total (§4; paper eq. 2-4)."""
        dual = dual_projection_loss(out.h_spec, out.h_lc, self.W)
        cov = covariance_loss(out.e_spec, out.e_lc, cross=not self.cfg.reference_cross_bug)
        total = self.cfg.dual_weight * dual + self.cfg.cov_weight * cov
        return {"dual": dual, "cov": cov, "total": total}

    def loss(
        self, spec: torch.Tensor, lc: torch.Tensor, priors: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Scalar training loss L = 0.5 L_dual + 0.5 L_cov (§4)."""
        return self.loss_terms(self(spec, lc, priors))["total"]

    @torch.no_grad()
    def embed(
        self,
        spec: torch.Tensor,
        lc: torch.Tensor,
        priors: torch.Tensor | None = None,
        *,
        projected: bool = False,
        reference: bool = False,
    ) -> torch.Tensor:
        """Final embedding (B, d): (h_spec + h_lc) @ basis of W's eigenspace, sorted by |λ|.

        As in §5 step 4 the pre-projection vectors (reference e1 + e2, pooled + priors) are
        projected; ``projected=True`` uses W h_spec + Wᵀ h_lc instead. ``reference=True`` takes
        the reference's duplicated real parts for complex pairs (§5).
        """
        out = self(spec, lc, priors)
        _, basis = eigenspace(self.W.detach(), reference=reference)
        a, b = (out.e_spec, out.e_lc) if projected else (out.h_spec, out.h_lc)
        return project(a, b, basis.to(a.dtype))
