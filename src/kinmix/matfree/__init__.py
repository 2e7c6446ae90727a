r"""Matrix-free LOCO association scans: conjugate gradients through the genotypes.

For cohorts where the eigendecomposition of the kinship (O(n³) time, 8n² bytes) is too
costly, :func:`matfree_scan` fits kinmix's LMM with :math:`K = ZZ^\top/m` applied through
the genotypes (:class:`GenotypeGRM`), batched conjugate gradients (:mod:`.cg`),
Monte-Carlo REML (:mod:`.reml`) and calibrated LOCO statistics with an exact refine of
the hits (:mod:`.association`). NumPy, memmap, PLINK and Dask genotypes are accepted.
``kinmix.scan(G, y, K=GenotypeGRM(...), method="cg")`` runs the same machinery for one
whole-genome kinship (:mod:`.arrays_scan`).
"""

from __future__ import annotations

from ..constants import AUTO_CG_SAMPLES
from ..errors import CGConvergenceError
from .operator import GenotypeGRM
from .pipeline import matfree_scan

__all__ = ["AUTO_CG_SAMPLES", "CGConvergenceError", "GenotypeGRM", "matfree_scan"]
