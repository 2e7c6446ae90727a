"""How fast is ``GLMMExpFam.fit`` next to glimix-core, or next to a dense EP baseline?

For n = 500 and n = 2000 the script simulates a Bernoulli trait with a kinship of rank k
(``economic_qs_linear`` of standardised genotypes), then times in the same run:

- ``kinmix``: ``GLMMExpFam(y, ("bernoulli",), X, QS).fit(verbose=False)``;
- ``peer``: with ``--peer-python PY`` (default: the ``PEER_PY`` environment variable), the
  same fit by glimix-core's ``GLMMExpFam`` on the same arrays, run by that interpreter in a
  subprocess (kinmix is not imported there);
- otherwise ``dense``: one cold EP run to convergence at the starting parameters with a
  textbook dense algorithm (Rasmussen & Williams, alg. 3.5, parallel updates: an n×n
  Cholesky factorisation per sweep), against kinmix's cold EP run at the same parameters.

It prints a table with the times, the log marginal likelihoods and the ratio peer/kinmix
(> 1: kinmix is faster). Run ``python benchmarks/glmm.py [--peer-python PY] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from kinmix.ep import LowRankPrior, run_ep
from kinmix.glmm import GLMMExpFam
from kinmix.lik import BernoulliProdLik
from kinmix.linalg import economic_qs_linear

PEER_SCRIPT = textwrap.dedent(
    """
    import json, sys, time, warnings
    import numpy as np
    from glimix_core.glmm import GLMMExpFam
    data = np.load(sys.argv[1])
    n = data["y"].shape[0]
    QS = ((data["Q0"], np.empty((n, 0))), data["S0"])
    warnings.simplefilter("ignore")
    glmm = GLMMExpFam(data["y"], ("bernoulli",), data["X"], QS)
    start = time.perf_counter()
    glmm.fit(verbose=False)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "lml": glmm.lml()}))
    """
)


def simulate(n: int, rank: int, seed: int = 0):
    """Bernoulli outcomes from a logit GLMM with heritability 0.5 on a rank-``rank`` kinship."""
    rng = np.random.default_rng(seed)
    G = rng.binomial(2, rng.uniform(0.1, 0.9, rank), size=(n, rank)).astype(float)
    G = (G - G.mean(0)) / G.std(0) / np.sqrt(rank)
    X = np.c_[np.ones(n), rng.normal(size=n)]
    latent = X @ [0.2, 0.5] + np.sqrt(0.5) * G @ rng.normal(size=rank)
    latent += np.sqrt(0.5) * rng.normal(size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-latent))).astype(float)
    return y, X, economic_qs_linear(G)


def time_kinmix(y, X, QS) -> tuple[float, float]:
    glmm = GLMMExpFam(y, ("bernoulli",), X, QS)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glmm.fit(verbose=False)
    return time.perf_counter() - start, glmm.lml()


def time_peer(python: str, y, X, QS) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data.npz"
        script = Path(folder) / "peer.py"
        np.savez(data, y=y, X=X, Q0=QS[0][0], S0=QS[1])
        script.write_text(PEER_SCRIPT)
        out = subprocess.run(
            [python, str(script), str(data)], capture_output=True, text=True, check=True
        )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["seconds"], result["lml"]


def dense_ep(y, mean, K, lik, rtol=1.49e-5, atol=1.49e-8, max_sweeps=500) -> float:
    """Textbook parallel EP on a dense covariance; returns the log marginal likelihood."""
    n = y.shape[0]
    eta, tau = np.zeros(n), np.zeros(n)
    for _ in range(max_sweeps):
        sq = np.sqrt(tau)
        B = np.eye(n) + sq[:, None] * K * sq
        factor = cho_factor(B, lower=True)
        V = cho_solve(factor, sq[:, None] * K)
        Sigma = K - (K * sq) @ V
        mu = mean + Sigma @ (eta - tau * mean)
        var = np.diag(Sigma).copy()
        cav_tau = 1 / var - tau
        cav_eta = mu / var - eta
        m = lik.tilted_moments(y, cav_eta / cav_tau, 1 / cav_tau)
        new_tau = np.maximum(1 / m.variance - cav_tau, 0)
        new_eta = m.mean / m.variance - cav_eta
        if np.linalg.norm(new_tau - tau) <= rtol * np.linalg.norm(new_tau) + atol:
            break  # keep the sites whose cavities and moments are at hand
        eta, tau = new_eta, new_tau
    # log Z_EP in the natural-parameter form (see kinmix.glmm._ep).
    total = cav_tau + tau
    site = m.log_zeroth + 0.5 * np.log(total / cav_tau)
    site += -0.5 * (cav_eta + eta) ** 2 / total + 0.5 * cav_eta**2 / cav_tau
    b = eta - tau * mean
    logdet = 2 * np.log(np.diag(factor[0])).sum()
    return float(
        site.sum() + eta @ mean - 0.5 * (tau * mean) @ mean - 0.5 * logdet + 0.5 * b @ Sigma @ b
    )


def time_dense_against_kinmix(y, X, QS) -> tuple[float, float, float, float]:
    Q0, S0 = QS[0][0], QS[1]
    K = 0.5 * (Q0 * S0) @ Q0.T + 0.5 * np.eye(y.shape[0])
    lik = BernoulliProdLik()
    mean = np.zeros(y.shape[0])
    start = time.perf_counter()
    dense = dense_ep(y, mean, K, lik)
    dense_seconds = time.perf_counter() - start
    start = time.perf_counter()
    result = run_ep(LowRankPrior(mean, Q0 * np.sqrt(S0), 0.5, 0.5), lik, y)
    return time.perf_counter() - start, result.lml, dense_seconds, dense


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer-python", default=os.environ.get("PEER_PY"))
    parser.add_argument("--quick", action="store_true", help="n = 200 and 500 only")
    parser.add_argument("--rank", type=int, default=200, help="rank k of the kinship")
    args = parser.parse_args()
    sizes = [200, 500] if args.quick else [500, 2000]
    peer = args.peer_python
    label = "glimix-core fit" if peer else "dense EP (cold, 1 lml)"
    mine = "kinmix fit" if peer else "kinmix EP (cold, 1 lml)"
    print(f"GLMMExpFam, Bernoulli, kinship rank {args.rank}; baseline: {label}")
    print(f"{'n':>6} {mine:>24} {'lml':>14} {label:>24} {'lml':>14} {'ratio':>7}")
    for n in sizes:
        y, X, QS = simulate(n, args.rank)
        if peer:
            ours, our_lml = time_kinmix(y, X, QS)
            theirs, their_lml = time_peer(peer, y, X, QS)
        else:
            ours, our_lml, theirs, their_lml = time_dense_against_kinmix(y, X, QS)
        print(
            f"{n:>6} {ours:>23.2f}s {our_lml:>14.6f} {theirs:>23.2f}s {their_lml:>14.6f} "
            f"{theirs / ours:>7.2f}"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
