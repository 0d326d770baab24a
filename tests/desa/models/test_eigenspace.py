"""Eigenspace projection (desa_reference.md §5): real orthonormal planes vs the reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from desa.models.eigenspace import eigenspace, project


def _rot(a: float, b: float) -> np.ndarray:
    """Rotation-scaling block with eigenvalues a ± ib."""
    return np.array([[a, -b], [b, a]])


def _block_diag(*blocks: np.ndarray) -> np.ndarray:
    d = sum(b.shape[0] for b in blocks)
    out = np.zeros((d, d))
    k = 0
    for b in blocks:
        n = b.shape[0]
        out[k : k + n, k : k + n] = b
        k += n
    return out


def _random_orthogonal(d: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def test_diagonal_w_gives_permuted_identity_sorted_by_magnitude() -> None:
    W = np.diag([1.0, -3.0, 0.5, 2.0])  # |λ|: 1, 3, 0.5, 2 -> order 1, 3, 0, 2
    lam, B = eigenspace(torch.tensor(W))
    np.testing.assert_allclose(lam.numpy(), [-3.0, 2.0, 1.0, 0.5], atol=1e-12)
    assert lam.is_complex()
    expected = np.eye(4)[:, [1, 3, 0, 2]]
    np.testing.assert_allclose(B.numpy(), expected, atol=1e-12)


def test_diagonal_nonsymmetric_path_also_permuted_identity() -> None:
    # One off-diagonal entry makes W non-symmetric -> the eig path (triangular: same λ).
    W = np.diag([2.0, -5.0, 1.0])
    W[0, 2] = 1e-3  # non-symmetric; eigenvalues stay 2, -5, 1
    lam, B = eigenspace(W)
    np.testing.assert_allclose(lam, [-5.0, 2.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(np.abs(B[:, 0]), [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(np.abs(B[:, 1]), [1, 0, 0], atol=1e-12)
    assert isinstance(B, np.ndarray) and B.dtype == np.float64


def test_symmetric_w_matches_numpy_eigh() -> None:
    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 6))
    W = A + A.T
    lam, B = eigenspace(torch.tensor(W))
    lam_np, V_np = np.linalg.eigh(W)
    order = np.argsort(-np.abs(lam_np), kind="stable")
    np.testing.assert_allclose(lam.numpy().real, lam_np[order], atol=1e-10)
    np.testing.assert_allclose(lam.numpy().imag, 0.0, atol=1e-12)
    Bn = B.numpy()
    np.testing.assert_allclose(Bn.T @ Bn, np.eye(6), atol=1e-10)
    # Same eigenvectors up to sign.
    np.testing.assert_allclose(np.abs(np.sum(Bn * V_np[:, order], axis=0)), 1.0, atol=1e-10)
    np.testing.assert_allclose(W @ Bn, Bn * lam_np[order], atol=1e-10)


def test_rotation_scaling_block_default_spans_plane_orthonormally() -> None:
    a, b = 0.6, 0.8
    W = _rot(a, b)
    lam, B = eigenspace(torch.tensor(W))
    np.testing.assert_allclose(lam.numpy(), [a + 1j * b, a - 1j * b], atol=1e-12)
    Bn = B.numpy()
    assert Bn.dtype == np.float64
    np.testing.assert_allclose(Bn.T @ Bn, np.eye(2), atol=1e-12)
    assert np.linalg.matrix_rank(Bn) == 2
    # Invariance: W B = B M with M = Bᵀ W B a real 2×2 carrying the pair a ± ib.
    M = Bn.T @ W @ Bn
    np.testing.assert_allclose(W @ Bn, Bn @ M, atol=1e-12)
    np.testing.assert_allclose(np.sort_complex(np.linalg.eigvals(M)), [a - 1j * b, a + 1j * b])


def test_rotation_scaling_block_reference_duplicates_the_column() -> None:
    a, b = 0.6, 0.8
    lam, B = eigenspace(torch.tensor(_rot(a, b)), reference=True)
    np.testing.assert_allclose(np.abs(lam.numpy()), [1.0, 1.0], atol=1e-12)
    Bn = B.numpy()
    # Real parts of v and v̄ coincide: two equal unit columns, rank 1 — the reference defect.
    np.testing.assert_allclose(Bn[:, 0], Bn[:, 1], atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(Bn, axis=0), 1.0, atol=1e-12)
    assert np.linalg.matrix_rank(Bn, tol=1e-8) == 1
    # Hence the projection loses a direction: two inputs differing along it look the same.
    x, y = Bn[:, 0], np.array([-Bn[1, 0], Bn[0, 0]])
    z = project(np.stack([x, x + y]), np.zeros((2, 2)), Bn)
    np.testing.assert_allclose(z[0], z[1], atol=1e-12)
    z_def = project(np.stack([x, x + y]), np.zeros((2, 2)), eigenspace(_rot(a, b))[1])
    assert np.abs(z_def[0] - z_def[1]).max() > 0.5


def test_reference_symmetric_branch_sorts_signed() -> None:
    W = np.diag([1.0, -3.0, 2.0])
    lam, B = eigenspace(W, reference=True)
    np.testing.assert_allclose(lam.real, [2.0, 1.0, -3.0])
    np.testing.assert_allclose(np.abs(B), np.eye(3)[:, [2, 0, 1]], atol=1e-12)
    lam_d, _ = eigenspace(W)
    np.testing.assert_allclose(lam_d.real, [-3.0, 2.0, 1.0])


def test_mixed_real_and_complex_blocks_under_orthogonal_change_of_basis() -> None:
    # Blocks: real 3.0, pair 1 ± 2i (|λ| = √5), real -0.5. Order: 3, (1+2i, 1-2i), -0.5.
    D = _block_diag(np.array([[-0.5]]), _rot(1.0, 2.0), np.array([[3.0]]))
    Q = _random_orthogonal(4, seed=7)
    W = Q @ D @ Q.T
    lam, B = eigenspace(torch.tensor(W))
    np.testing.assert_allclose(lam.numpy(), [3.0, 1 + 2j, 1 - 2j, -0.5], atol=1e-10)
    Bn = B.numpy()
    assert np.linalg.matrix_rank(Bn) == 4
    np.testing.assert_allclose(np.linalg.norm(Bn, axis=0), 1.0, atol=1e-10)
    # Real eigenvectors are ± the transformed basis vectors.
    np.testing.assert_allclose(np.abs(Bn[:, 0] @ Q[:, 3]), 1.0, atol=1e-10)
    np.testing.assert_allclose(np.abs(Bn[:, 3] @ Q[:, 0]), 1.0, atol=1e-10)
    # The pair's columns: orthonormal, spanning exactly Q's plane (projector equality).
    P = Bn[:, 1:3]
    np.testing.assert_allclose(P.T @ P, np.eye(2), atol=1e-10)
    np.testing.assert_allclose(P @ P.T, Q[:, 1:3] @ Q[:, 1:3].T, atol=1e-10)
    M = P.T @ W @ P
    np.testing.assert_allclose(W @ P, P @ M, atol=1e-10)
    # The reference instead has rank 3 (duplicated pair column).
    _, R = eigenspace(torch.tensor(W), reference=True)
    Rn = R.numpy()
    assert np.linalg.matrix_rank(Rn, tol=1e-8) == 3
    np.testing.assert_allclose(Rn[:, 1], Rn[:, 2], atol=1e-10)


def test_numpy_and_torch_inputs_agree_and_types_follow_input() -> None:
    W = np.random.default_rng(3).normal(size=(8, 8))
    lam_n, B_n = eigenspace(W)
    lam_t, B_t = eigenspace(torch.tensor(W))
    assert isinstance(B_n, np.ndarray) and isinstance(B_t, torch.Tensor)
    np.testing.assert_allclose(lam_t.numpy(), lam_n, atol=1e-12)
    np.testing.assert_allclose(B_t.numpy(), B_n, atol=1e-12)
    # Sorted by |λ| descending, full rank, both members of each pair reported.
    mags = np.abs(lam_n)
    assert np.all(np.diff(mags) <= 1e-12)
    np.testing.assert_allclose(np.sort_complex(lam_n), np.sort_complex(np.linalg.eigvals(W)))
    assert np.linalg.matrix_rank(B_n) == 8
    # float32 in -> float32 basis, complex64 eigenvalues.
    lam32, B32 = eigenspace(torch.tensor(W, dtype=torch.float32))
    assert B32.dtype == torch.float32 and lam32.dtype == torch.complex64
    # Deterministic: a repeated call gives the identical result.
    np.testing.assert_array_equal(eigenspace(W)[1], B_n)


def test_bad_w_raises() -> None:
    with pytest.raises(ValueError):
        eigenspace(np.zeros((2, 3)))
    with pytest.raises(ValueError):
        eigenspace(np.array([[1.0, np.nan], [0.0, 1.0]]))


def test_project_on_hand_made_arrays_numpy_and_torch() -> None:
    e_spec = np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]])
    e_lc = np.array([[0.5, 0.0], [1.0, 1.0], [-1.0, 0.5]])
    basis = np.array([[0.0, 2.0], [1.0, -1.0]])
    # (e_spec + e_lc) = [[1.5, 2], [1, 0], [2, 1]] -> @ basis by hand:
    expected = np.array([[2.0, 1.0], [0.0, 2.0], [1.0, 3.0]])
    z = project(e_spec, e_lc, basis)
    assert isinstance(z, np.ndarray)
    np.testing.assert_allclose(z, expected)
    zt = project(torch.tensor(e_spec), torch.tensor(e_lc), torch.tensor(basis))
    assert isinstance(zt, torch.Tensor) and zt.shape == (3, 2)
    np.testing.assert_allclose(zt.numpy(), expected)
    with pytest.raises(TypeError):
        project(e_spec, torch.tensor(e_lc), basis)
    with pytest.raises(ValueError):
        project(e_spec, e_lc, np.eye(3))
