"""A small column/row accumulator that hands a whole MILP to HiGHS in two bulk calls.

Blocks of variables and constraints are added as numpy arrays (no per-variable Python objects),
then `to_highs` passes them with `Highs.addCols` / `Highs.addRows` (row-wise CSR) and
`changeColsIntegrality`: building a 192-step home model takes a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
from scipy.sparse import coo_matrix

from gridedge.home.cem.planner.inputs import FloatArray, IntArray

INF = float("inf")
Term = tuple[Any, Any, Any]
"""(local rows, columns, coefficients), each a scalar or an array."""


@dataclass
class LpBuilder:
    """Columns and rows of a MILP in the making (minimisation)."""

    lb: list[FloatArray] = field(default_factory=list)
    ub: list[FloatArray] = field(default_factory=list)
    cost: list[FloatArray] = field(default_factory=list)
    integer: list[IntArray] = field(default_factory=list)
    row_lb: list[FloatArray] = field(default_factory=list)
    row_ub: list[FloatArray] = field(default_factory=list)
    r: list[IntArray] = field(default_factory=list)
    c: list[IntArray] = field(default_factory=list)
    v: list[FloatArray] = field(default_factory=list)
    ncol: int = 0
    nrow: int = 0
    offset: float = 0.0

    def cols(
        self, n: int, lb: object = 0.0, ub: object = INF, cost: object = 0.0, *, binary: bool = False
    ) -> IntArray:
        """Add `n` columns; bounds and costs are scalars or arrays of length n. Returns their indices."""
        idx = np.arange(self.ncol, self.ncol + n, dtype=np.int64)
        self.lb.append(np.broadcast_to(np.asarray(lb, np.float64), (n,)).copy())
        self.ub.append(np.broadcast_to(np.asarray(ub, np.float64), (n,)).copy())
        self.cost.append(np.broadcast_to(np.asarray(cost, np.float64), (n,)).copy())
        if binary:
            self.integer.append(idx)
            self.lb[-1][:] = 0.0
            self.ub[-1][:] = np.minimum(self.ub[-1], 1.0)
        self.ncol += n
        return idx

    def rows(
        self,
        m: int,
        lb: object,
        ub: object,
        terms: Sequence[Term],
    ) -> IntArray:
        """Add `m` rows lb <= sum(v x col) <= ub; `terms` are (local row, column, coefficient) arrays
        (broadcast together), local rows in 0..m-1."""
        base = self.nrow
        for rr, cc, vv in terms:
            r_arr, c_arr, v_arr = np.broadcast_arrays(
                np.asarray(rr, np.int64), np.asarray(cc, np.int64), np.asarray(vv, np.float64)
            )
            self.r.append(r_arr.ravel() + base)
            self.c.append(c_arr.ravel())
            self.v.append(v_arr.ravel())
        self.row_lb.append(np.broadcast_to(np.asarray(lb, np.float64), (m,)).copy())
        self.row_ub.append(np.broadcast_to(np.asarray(ub, np.float64), (m,)).copy())
        self.nrow += m
        return np.arange(base, base + m, dtype=np.int64)

    def to_highs(self) -> highspy.Highs:
        h = highspy.Highs()  # type: ignore[no-untyped-call]
        h.silent()
        empty_i = np.zeros(0, np.int32)
        empty_f = np.zeros(0, np.float64)
        cost = np.concatenate(self.cost) if self.cost else empty_f
        h.addCols(
            self.ncol, cost, np.concatenate(self.lb), np.concatenate(self.ub), 0, empty_i, empty_i, empty_f
        )
        self.add_rows_to(h)
        if self.integer:
            ints = np.concatenate(self.integer).astype(np.int32)
            h.changeColsIntegrality(
                ints.size, ints, np.full(ints.size, int(highspy.HighsVarType.kInteger), np.uint8)
            )
        if self.offset:
            h.changeObjectiveOffset(self.offset)
        return h

    def add_rows_to(self, h: highspy.Highs) -> None:
        """Append this builder's rows to `h`, whose columns must include every column they use
        (also used to add cuts to a model already in HiGHS: a builder with `ncol` set and no columns)."""
        if not self.nrow:
            return
        r = np.concatenate(self.r) if self.r else np.zeros(0, np.int64)
        c = np.concatenate(self.c) if self.c else np.zeros(0, np.int64)
        v = np.concatenate(self.v) if self.v else np.zeros(0, np.float64)
        keep = v != 0.0
        csr = coo_matrix((v[keep], (r[keep], c[keep])), shape=(self.nrow, self.ncol)).tocsr()
        csr.sort_indices()
        h.addRows(
            self.nrow,
            np.concatenate(self.row_lb),
            np.concatenate(self.row_ub),
            int(csr.nnz),
            csr.indptr[:-1].astype(np.int32),
            csr.indices.astype(np.int32),
            csr.data.astype(np.float64),
        )
