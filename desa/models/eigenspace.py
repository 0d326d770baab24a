"""Final DESA embedding: projection of (e_spec + e_lc) onto the eigenspace of W.

See ``shared/research/desa_reference.md`` §5 ("Eigenspace projection, Eq. 8"). The reference
takes ``torch.linalg.eig`` of the (non-symmetric) projection weight W, sorts by |λ| descending
and keeps the *real part* of each complex eigenvector. A complex-conjugate pair λ, λ̄ has
eigenvectors v, v̄ with identical real parts, so the reference basis holds every pair's column
twice (rank-deficient) and never spans the pair's imaginary direction (pitfall (i) there).

By default :func:`eigenspace` instead returns, for each conjugate pair, a real orthonormal basis
of the pair's 2-D real invariant plane span{Re v, Im v}; ``reference=True`` reproduces the
reference exactly.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", torch.Tensor, np.ndarray)

# Relative tolerance under which an eigenvalue's imaginary part counts as zero (float64 work).
_REAL_TOL = 1e-9
# The reference's symmetry test: sum|A - A^T| < 1e-6 (desa_reference.md §5 step 2).
_REFERENCE_SYM_TOL = 1e-6


def _as_tensor(x: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, bool]:
    """Return ``(tensor, was_numpy)``."""
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x)), True
    if isinstance(x, torch.Tensor):
        return x, False
    raise TypeError(f"expected a torch.Tensor or numpy.ndarray, got {type(x).__name__}")


def _check_square(W: torch.Tensor) -> None:
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"W must be a square (d, d) matrix, got shape {tuple(W.shape)}")
    if W.is_complex():
        raise ValueError("W must be real")
    if not bool(torch.isfinite(W).all()):
        raise ValueError("W contains NaN or inf")


def _fix_phase(v: torch.Tensor) -> torch.Tensor:
    """Rotate a complex vector so its largest-magnitude entry is real and positive.

    Removes the arbitrary LAPACK phase (desa_reference.md §5 pitfall (ii)) so the result is
    deterministic; ties in magnitude go to the first index.
    """
    k = int(torch.argmax(v.abs()))
    return v * (v[k].conj() / v[k].abs())


def _sign_fix(v: torch.Tensor) -> torch.Tensor:
    """Flip a real vector so its largest-magnitude entry is positive (first index on ties)."""
    k = int(torch.argmax(v.abs()))
    return v if v[k] >= 0 else -v


def _order(lam: torch.Tensor) -> list[int]:
    """Stable order by |λ| descending, ties broken by Re λ desc, then Im λ desc, then index."""
    mag = lam.abs().tolist()
    re = lam.real.tolist()
    im = lam.imag.tolist()
    return sorted(range(len(mag)), key=lambda i: (-mag[i], -re[i], -im[i], i))


def _reference(W64: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference ``_get_eigenspace`` (desa_reference.md §5 steps 1-3)."""
    if float((W64 - W64.T).abs().sum()) < _REFERENCE_SYM_TOL:
        # Symmetric branch: eigh, eigenvalues sorted descending by *signed* value.
        lam_r, V = torch.linalg.eigh(W64)
        idx = torch.argsort(lam_r, descending=True, stable=True)
        lam, V = lam_r[idx].to(torch.complex128), V[:, idx]
    else:
        # Normal branch: eig, sort by |λ| descending, keep the real part of each eigenvector.
        lam_c, V_c = torch.linalg.eig(W64)
        idx = torch.tensor(_order(lam_c), dtype=torch.long)
        lam, V = lam_c[idx], V_c[:, idx].real
    # Column-normalise (F.normalize(V, dim=0): eps 1e-12 keeps zero columns at zero).
    V = V / V.norm(dim=0, keepdim=True).clamp_min(1e-12)
    return lam, V


def _real_basis(W64: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues and a real basis with each conjugate pair's invariant plane spanned once."""
    d = W64.shape[0]
    if torch.equal(W64, W64.T):
        # Exactly symmetric: the ordinary orthonormal eigenbasis (real λ, orthogonal even for
        # repeated eigenvalues, which eig does not guarantee).
        lam_r, V = torch.linalg.eigh(W64)
        order = _order(lam_r.to(torch.complex128))
        cols = [_sign_fix(V[:, i]) for i in order]
        return lam_r[order].to(torch.complex128), torch.stack(cols, dim=1)

    lam, V = torch.linalg.eig(W64)
    scale = max(1.0, float(lam.abs().max()))
    is_real = lam.imag.abs() <= _REAL_TOL * scale
    # One "unit" per real eigenvalue and per conjugate pair (represented by its Im λ > 0 member).
    units = [i for i in range(d) if bool(is_real[i]) or float(lam.imag[i]) > 0]
    lam_units = lam[units].clone()
    lam_units.imag[is_real[units]] = 0.0
    values: list[torch.Tensor] = []
    cols: list[torch.Tensor] = []
    for j in _order(lam_units):
        i = units[j]
        v = _fix_phase(V[:, i])
        if bool(is_real[i]):
            # Real eigenvalue: after the phase fix the eigenvector is real up to round-off.
            values.append(lam_units[j : j + 1])
            u = v.real
            cols.append(_sign_fix(u / u.norm()))
        else:
            # Conjugate pair λ, λ̄: W [Re v, Im v] = [Re v, Im v] [[a, b], [-b, a]] with
            # λ = a + ib, so span{Re v, Im v} is a real invariant plane; QR gives an
            # orthonormal basis of it (diag of R made positive for determinism).
            Q, R = torch.linalg.qr(torch.stack([v.real, v.imag], dim=1))
            Q = Q * torch.sign(torch.diagonal(R)).where(torch.diagonal(R) != 0, 1.0)
            l0 = lam[i]
            values.append(torch.stack([l0, l0.conj()]))
            cols.extend([Q[:, 0], Q[:, 1]])
    lam_out = torch.cat(values)
    if lam_out.shape[0] != d:  # unpaired complex eigenvalue: only if eig lost conjugate symmetry
        raise ValueError("eigenvalues of W do not come in conjugate pairs; W is ill-conditioned")
    return lam_out, torch.stack(cols, dim=1)


def eigenspace(
    W: torch.Tensor | np.ndarray, reference: bool = False
) -> tuple[torch.Tensor | np.ndarray, torch.Tensor | np.ndarray]:
    """Eigen-decomposition of the real square DualFormer weight ``W`` for the final embedding.

    Returns ``(eigenvalues, basis)``: eigenvalues a complex vector (d,) sorted by |λ| descending
    (deterministic tie-break: Re λ descending, then Im λ descending, so of a conjugate pair the
    Im λ > 0 member comes first), and ``basis`` a real (d, d) matrix whose columns are in the same
    order as the eigenvalues. The output type follows the input (torch tensor on W's device, or
    numpy array); the basis has W's real dtype, the eigenvalues the matching complex dtype.
    The work is done in float64 on the CPU.

    Default (``reference=False``):

    - a real eigenvalue gets its unit-norm real eigenvector (sign: largest entry positive);
    - a complex-conjugate pair a ± ib (eigenvector v of a + ib) gets two columns forming a real
      orthonormal basis of the pair's real invariant plane span{Re v, Im v} (QR), so
      ``W @ B_pair = B_pair @ M`` for a real 2×2 ``M`` with eigenvalues a ± ib;
      both λ and λ̄ are reported, in the pair's two column positions;
    - for a diagonalisable W (the generic case) the basis has full rank and each pair's plane is
      spanned once; a defective W yields a rank-deficient basis, as any eigenbasis would;
    - an exactly symmetric W gives the ordinary orthonormal eigenbasis (``torch.linalg.eigh``),
      sorted by |λ| descending.

    ``reference=True`` reproduces the reference ``_get_eigenspace`` (desa_reference.md §5): if
    sum|W − Wᵀ| < 1e-6, ``eigh`` with eigenvalues sorted by signed value descending; otherwise
    ``eig`` sorted by |λ| and the real parts of the complex eigenvectors as columns, so a
    conjugate pair gives the same column twice (rank-deficient basis); columns unit-normalised.
    """
    Wt, was_numpy = _as_tensor(W)
    _check_square(Wt)
    W64 = Wt.detach().to(device="cpu", dtype=torch.float64)
    lam, B = _reference(W64) if reference else _real_basis(W64)
    real_dtype = Wt.dtype if Wt.is_floating_point() else torch.float64
    complex_dtype = (
        torch.complex64
        if real_dtype in (torch.float32, torch.float16, torch.bfloat16)
        else torch.complex128
    )
    lam = lam.to(complex_dtype)
    B = B.to(real_dtype)
    if was_numpy:
        return lam.numpy(), B.numpy()
    return lam.to(Wt.device), B.to(Wt.device)


def project(e_spec: Array, e_lc: Array, basis: Array) -> Array:
    """Final embedding z = (e_spec + e_lc) @ basis (desa_reference.md §5 step 4).

    ``e_spec`` and ``e_lc`` are (B, d) (or (d,)) and ``basis`` (d, k), usually the basis from
    :func:`eigenspace`; returns (B, k). Works on numpy arrays or torch tensors, returning the
    same type as the inputs (all three must be of one kind).
    """
    kinds = {isinstance(x, torch.Tensor) for x in (e_spec, e_lc, basis)}
    if len(kinds) != 1 or not all(
        isinstance(x, torch.Tensor | np.ndarray) for x in (e_spec, e_lc, basis)
    ):
        raise TypeError("e_spec, e_lc and basis must all be torch tensors or all numpy arrays")
    if e_spec.shape != e_lc.shape:
        raise ValueError(
            f"e_spec {tuple(e_spec.shape)} and e_lc {tuple(e_lc.shape)} differ in shape"
        )
    if basis.ndim != 2 or e_spec.shape[-1] != basis.shape[0]:
        raise ValueError(
            f"basis of shape {tuple(basis.shape)} does not match embeddings "
            f"of width {e_spec.shape[-1]}"
        )
    return (e_spec + e_lc) @ basis
