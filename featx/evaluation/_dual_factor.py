"""The sample-space factors of the Newton LinearSVC: the kernel, and Cholesky factors kept up to date.

:class:`DualFactor` keeps one class's ``K_SS + I / 2C`` factorised while its active
set S changes (bordering for rows that join, a constrained solve for rows that
leave); :class:`Kernel` serves blocks of ``a a^T``. See :mod:`featx.evaluation.linear_svm`.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from threadpoolctl import ThreadpoolController

#: Largest sample count whose (n, n) float32 kernel matrix is kept in memory (1 GiB).
MAX_KERNEL_SAMPLES = 16384
#: float64 refinement rounds of a float32 sample-space solve once a class's active set settles.
#: Costs, in flops of a one-thread float32 Cholesky (~80 GFlop/s here), of copying one
#: factor entry and of gathering one kernel entry: they decide update against refactorise.
COPY_FLOPS, GATHER_FLOPS = 100, 250


def single_blas_thread():
    # OpenBLAS's threaded Cholesky ran 10-25x slower than one thread on the shared 2-core
    # machine (its threads spin-wait for busy cores); one thread is fast at these sizes.
    # A cached controller: ``threadpool_limits`` rescans the loaded libraries on every call
    # (~5 ms; a paper-size fit makes ~400 such calls).
    if not _CONTROLLER:  # created on first use, once NumPy's and SciPy's BLAS are loaded
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


_CONTROLLER: list[ThreadpoolController] = []


class Kernel:
    """The design in float32 and its (n, n) kernel ``a a^T``, each computed on first use."""

    def __init__(self, a: np.ndarray) -> None:
        self.a, self._a32, self._full = a, None, None

    @property
    def a32(self) -> np.ndarray:
        if self._a32 is None:
            self._a32 = self.a.astype(np.float32)
        return self._a32

    def block(self, rows: np.ndarray, cols: np.ndarray, dtype=np.float32) -> np.ndarray:
        """C-contiguous ``(a a^T)[rows][:, cols]``; for a symmetric block its transpose is
        the same matrix in Fortran order, which LAPACK takes without a copy. float64
        blocks are computed from ``a`` itself (exact; the fallback of :class:`DualFactor`).
        """
        if dtype == np.float64:
            return self.a[rows] @ self.a[cols].T
        if self.a.shape[0] > MAX_KERNEL_SAMPLES:
            return self.a32[rows] @ self.a32[cols].T
        if self._full is None:
            self._full = self.a32 @ self.a32.T
        # rows first (contiguous copies), then columns: 1.6x faster than np.ix_
        return self._full.take(rows, axis=0).take(cols, axis=1)


class DualFactor:
    """One class's sample-space matrix ``G_S = K_SS + I / 2C``, kept factorised as S changes.

    Newton's active sets change by a fraction per iteration (at paper size they grow by
    ~10% a step, then trade a few dozen rows), so rather than refactorising ``G_S`` every
    step (``|S|^3 / 3`` flops plus an ``|S|^2`` gather from the kernel), the Cholesky
    factor ``L`` of ``G_B`` over the rows B it holds is extended by bordering when rows
    join, and rows that leave (M) stay in it, constrained out of the solution: with
    ``V = L^{-1} E`` (E: the unit columns of M), the solution of ``G_SS u_S = r`` is
    ``u = L^{-T} (I - V (V^T V)^{-1} V^T) L^{-1} r`` (it is zero on M). V and ``V^T V``
    are updated with the factor (bordering appends rows to V; a row that leaves adds a
    column, one that returns drops its column). Each step takes whichever of update and
    refactorisation is estimated cheaper.

    The factor is float32 (half the time and memory traffic); should float32 find the
    matrix not positive definite (a large C makes it ill-conditioned), this class
    switches to float64 blocks computed from the design.
    """

    def __init__(self, kernel: Kernel, ridge: float) -> None:
        self.kernel, self.ridge = kernel, ridge
        self.dtype: type = np.float32
        self.order = np.empty(0, dtype=np.intp)  # sample of each factor row
        self.position = np.full(kernel.a.shape[0], -1, dtype=np.intp)  # its inverse
        self.chol: np.ndarray | None = None  # lower, Fortran order
        self.leaving = np.empty(0, dtype=np.intp)  # factor rows constrained out
        self.rows = np.empty(0, dtype=np.intp)  # factor rows of the current active set
        self.n_factorised = self.n_updated = 0

    def update(self, idx: np.ndarray) -> None:
        """Make the factor serve the active set ``idx`` (sorted sample indices)."""
        pos = self.position[idx]
        joining = idx[pos < 0]
        member = np.zeros(len(self.order), dtype=bool)
        member[pos[pos >= 0]] = True
        leaving = np.flatnonzero(~member)
        size = len(self.order) + len(joining)
        newly_leaving = np.setdiff1d(leaving, self.leaving)
        # bordering's triangular solve, a solve per newly leaving row, copying the factor;
        # gathering the new kernel rows and updating V^T V
        update_cost = (size ** 2 * (len(joining) + len(newly_leaving) + COPY_FLOPS)
                       + size * (GATHER_FLOPS * len(joining) + 2 * len(leaving) ** 2))
        fresh_cost = len(idx) ** 3 / 3 + GATHER_FLOPS * len(idx) ** 2
        with single_blas_thread():
            try:
                if self.chol is None or update_cost >= fresh_cost:
                    self._factorise(idx)
                else:
                    self._border(joining)
                    self._constrain(leaving, newly_leaving)
                    self.n_updated += 1
            except np.linalg.LinAlgError:
                if self.dtype == np.float64:
                    raise
                self.dtype = np.float64
                self._factorise(idx)
        self.rows = self.position[idx]

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``G_S^{-1} rhs`` for the active set of the last :meth:`update`."""
        r = np.zeros(len(self.order), dtype=self.dtype)
        r[self.rows] = rhs
        with single_blas_thread():
            v = trtrs(self.chol, r, trans=0)
            if len(self.leaving):
                mu = sla.cho_solve(self.gram_factor, self.basis.T @ v, check_finite=False)
                v -= self.basis @ mu.astype(self.dtype)
            u = trtrs(self.chol, v, trans=1)
        return u[self.rows].astype(np.float64)

    def _factorise(self, idx: np.ndarray) -> None:
        self.position[self.order] = -1
        self.order = idx.copy()
        self.position[idx] = np.arange(len(idx))
        g = self.kernel.block(idx, idx, self.dtype).T  # symmetric: Fortran order, no copy
        g[np.diag_indices_from(g)] += self.ridge
        self.chol = potrf(g)
        self.leaving = np.empty(0, dtype=np.intp)
        self.basis = np.empty((len(idx), 0), dtype=self.dtype, order="F")
        self.gram = np.empty((0, 0))
        self.n_factorised += 1

    def _border(self, joining: np.ndarray) -> None:
        # [[L, 0], [W^T, L_J]] with L W = G_BJ and L_J L_J^T = G_JJ - W^T W
        if not len(joining):
            return
        n0, k = len(self.order), len(joining)
        trsm, syrk = sla.get_blas_funcs(("trsm", "syrk"), dtype=self.dtype)
        w = trsm(1.0, self.chol, self.kernel.block(joining, self.order, self.dtype).T,
                 lower=1, overwrite_b=1)
        corner = self.kernel.block(joining, joining, self.dtype).T
        corner[np.diag_indices_from(corner)] += self.ridge
        corner = potrf(syrk(-1.0, w, beta=1.0, c=corner, trans=1, lower=1, overwrite_c=1))
        chol = np.empty((n0 + k, n0 + k), dtype=self.dtype, order="F")
        chol[:n0, :n0] = self.chol
        chol[:n0, n0:] = 0.0
        chol[n0:, :n0] = w.T
        chol[n0:, n0:] = corner
        self.chol = chol
        self.order = np.concatenate([self.order, joining])
        self.position[joining] = np.arange(n0, n0 + k)
        # V's new rows X solve W^T V + L_J X = 0 (E is zero on the new rows)
        extra = trtrs(corner, -(w.T @ self.basis), trans=0)
        self.basis = np.asfortranarray(np.vstack([self.basis, extra]))
        self.gram = self.gram + extra.T.astype(np.float64) @ extra

    def _constrain(self, leaving: np.ndarray, new: np.ndarray) -> None:
        """Constrain out the rows ``leaving`` (``new``: those not constrained out before)."""
        keep = np.isin(self.leaving, leaving)
        basis = self.basis[:, keep]
        gram = self.gram[np.ix_(keep, keep)]
        if len(new):
            unit = np.zeros((len(self.order), len(new)), dtype=self.dtype, order="F")
            unit[new, np.arange(len(new))] = 1.0
            added = trtrs(self.chol, unit, trans=0)  # L^{-1} E_new
            cross = (basis.T @ added).astype(np.float64)
            gram = np.block([[gram, cross], [cross.T, (added.T @ added).astype(np.float64)]])
            basis = np.hstack([basis, added])
        self.leaving = np.concatenate([self.leaving[keep], new])
        self.basis, self.gram = np.asfortranarray(basis), gram
        if len(self.leaving):
            self.gram_factor = sla.cho_factor(gram, lower=True, check_finite=False)


def potrf(g: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a Fortran-ordered symmetric matrix, in place."""
    potrf = sla.get_lapack_funcs("potrf", dtype=g.dtype)
    chol, info = potrf(g, lower=1, clean=1, overwrite_a=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"matrix not positive definite (leading minor {info})")
    return chol


def trtrs(chol: np.ndarray, rhs: np.ndarray, *, trans: int) -> np.ndarray:
    """``L^{-1} rhs`` (trans=0) or ``L^{-T} rhs`` (trans=1) for a lower triangular L."""
    trtrs = sla.get_lapack_funcs("trtrs", dtype=chol.dtype)
    x, info = trtrs(chol, rhs, lower=1, trans=trans)
    if info != 0:
        raise np.linalg.LinAlgError(f"singular triangular factor (diagonal {info})")
    return x
