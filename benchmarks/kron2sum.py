"""Kron2Sum fit and multi-trait scan times, kinmix against glimix-core 3.1.14.

    python benchmarks/kron2sum.py [--quick] [--peer-python PY] [--peer-cap SECONDS]

Cases: n = 500 and 2,000 samples, p = 3 and 6 traits, C₀ of rank 1 and full (p), a
kinship factor G of 200 population-standardised genotypes, an intercept and a covariate.
For each case kinmix's ``Kron2Sum(...).fit()`` (ML, every start of its multi-start strategy
included) is timed; the peak of Python-tracked memory (tracemalloc) while building the
model and evaluating the likelihood and its gradient once is printed next to the size one
dense (np)×(np) matrix would take. Then a scan of 10,000 variants
(any-effect test, A₁ = I₃, n = 2,000, p = 3) through ``KronFastScanner.fast_scan``.

The peer is glimix-core's ``Kron2Sum`` on the same arrays, run by ``--peer-python``
(default: the ``PEER_PY`` environment variable; ``source ../shared/tools/peer-env.sh``) in
a subprocess, each case capped at ``--peer-cap`` seconds (reported as "> cap"). The peer
scan calls ``KronFastScanner.scan`` variant by variant at kinmix's fitted covariances until
the cap, and its time for all variants is extrapolated from the rate reached (marked "~").
Ratios are peer time / kinmix time (> 1: kinmix is faster); target ≥ 10.

``--quick``: n = 500 only and 2,000 variants. The default cap (30 s) keeps the default
run near 5 minutes; glimix-core often needs minutes, so ``--peer-cap 120`` or more gives
exact ratios where the default can only print lower bounds.
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
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

from kinmix.lmm import Kron2Sum

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "validation"))

from gemma_mvlmm import simulate_traits

PEER_FIT = textwrap.dedent(
    """
    import json, sys, time, warnings
    import numpy as np
    from glimix_core.lmm import Kron2Sum
    d = np.load(sys.argv[1])
    warnings.simplefilter("ignore")
    model = Kron2Sum(d["Y"], np.eye(d["Y"].shape[1]), d["X"], d["G"], rank=int(sys.argv[2]))
    start = time.perf_counter()
    try:
        model.fit(verbose=False)
        outcome = {"seconds": time.perf_counter() - start, "lml": model.lml()}
    except Exception as exc:  # glimix's optimiser can give up (OptimixError)
        outcome = {"seconds": time.perf_counter() - start, "error": type(exc).__name__}
    print(json.dumps(outcome))
    """
)

PEER_SCAN = textwrap.dedent(
    """
    import json, sys, time, warnings
    import numpy as np
    from glimix_core.lmm import Kron2Sum
    d = np.load(sys.argv[1])
    cap = float(sys.argv[2])
    warnings.simplefilter("ignore")
    p = d["Y"].shape[1]
    model = Kron2Sum(d["Y"], np.eye(p), d["X"], d["G"], rank=p)
    norm = model._G_norm
    S, U = np.linalg.eigh(d["C0"])
    model._cov.C0.L = U * np.sqrt(np.clip(S, 0, None)) * norm
    model._cov.C1.L = np.linalg.cholesky(d["C1"])
    scanner = model.get_fast_scanner()
    variants = d["variants"]
    start = time.perf_counter()
    done = 0
    for j in range(variants.shape[1]):
        scanner.scan(np.eye(p), variants[:, [j]])
        done += 1
        if time.perf_counter() - start > cap:
            break
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "done": done}))
    """
)


def fit_case(n, p, rank, rng, python, cap):
    Y, X, G = simulate_traits(n, p, 200, rng, genetic=0.6, noise=0.3)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Kron2Sum(Y, np.eye(p), X, G, rank=rank)
        fit = model.fit()
    seconds = time.perf_counter() - start
    # memory: building the model and one likelihood + gradient evaluation, traced apart
    # (tracemalloc slows Python down, so the timed fit above is not traced)
    tracemalloc.start()
    traced = Kron2Sum(Y, np.eye(p), X, G, rank=rank)
    traced.lml()
    traced.gradient()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    peer = (
        _capped(python, PEER_FIT, {"Y": Y, "X": X, "G": G}, [str(rank)], cap) if python else None
    )
    return model, fit, seconds, peak, peer


def _capped(python, script, arrays, args, cap):
    """Run the peer with a hard wall-clock cap (the subprocess is killed at the cap)."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.npz"
        np.savez(data, **arrays)
        try:
            done = subprocess.run(
                [python, "-c", script, str(data), *args],
                capture_output=True,
                text=True,
                timeout=cap,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"capped": True}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:60]}
    return json.loads(lines[-1])


def describe(peer, seconds, cap):
    """(peer time text, ratio text) for the table."""
    if peer is None:
        return "-", "-"
    if peer.get("capped"):
        return f"> {cap:.0f}", f"> {cap / seconds:.0f}"
    if "error" in peer:
        return f"{peer['error']} after {peer.get('seconds', 0):.0f} s", "(fails)"
    return f"{peer['seconds']:.2f}", f"{peer['seconds'] / seconds:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--peer-python", default=os.environ.get("PEER_PY"))
    parser.add_argument("--peer-cap", type=float, default=30.0)
    args = parser.parse_args()
    python = args.peer_python if args.peer_python and Path(args.peer_python).exists() else None
    cap = args.peer_cap
    rng = np.random.default_rng(0)
    sizes = [500] if args.quick else [500, 2000]
    print(f"peer: {python or 'none (set PEER_PY or --peer-python)'}; cap {cap:.0f} s per case")
    header = (
        f"{'n':>5} {'p':>2} {'rank':>4} {'kinmix (s)':>10} {'starts':>6} {'peak MiB':>8} "
        f"{'(np)² MiB':>9} {'lml kinmix':>13} {'lml peer':>13} {'peer (s)':>16} {'ratio':>7}"
    )
    print(header)
    fitted = None
    for n in sizes:
        for p in (3, 6):
            for rank in (1, p):
                model, fit, seconds, peak, peer = fit_case(n, p, rank, rng, python, cap)
                dense = (n * p) ** 2 * 8 / 2**20
                peer_text, ratio = describe(peer, seconds, cap)
                peer_lml = f"{peer['lml']:.4f}" if peer and "lml" in peer else "-"
                print(
                    f"{n:>5} {p:>2} {rank:>4} {seconds:>10.2f} {len(fit.starts):>6} "
                    f"{peak:>8.1f} {dense:>9.0f} {fit.lml:>13.4f} {peer_lml:>13} "
                    f"{peer_text:>16} {ratio:>7}",
                    flush=True,
                )
                if p == 3 and rank == p:
                    fitted = model  # the largest n with p = 3, full rank, for the scan

    m = 2000 if args.quick else 10_000
    n = fitted.nsamples
    freq = rng.uniform(0.05, 0.5, size=m)
    variants = rng.binomial(2, freq, size=(n, m)).astype(float)
    scanner = fitted.get_fast_scanner()
    start = time.perf_counter()
    result = scanner.fast_scan(np.eye(3), variants)
    seconds = time.perf_counter() - start
    lambda_gc = np.median(result.chi2) / 2.365974  # chi2(3) median
    text, ratio = "-", "-"
    if python:
        arrays = {
            "Y": fitted._Y,
            "X": fitted.X,
            "G": fitted._cov.G * fitted._scale_G,
            "C0": fitted.C0,
            "C1": fitted.C1,
            "variants": variants,
        }
        peer = _capped(python, PEER_SCAN, arrays, [str(cap)], cap + 120)
        if peer.get("done"):
            total = peer["seconds"] * m / peer["done"]
            mark = "" if peer["done"] == m else "~"
            text = f"{mark}{total:.1f} ({peer['done']} done)"
            ratio = f"{mark}{total / seconds:.0f}"
        else:
            text, ratio = describe(peer, seconds, cap)
    print(
        f"\nscan: {m} variants, n = {n}, p = 3, any-effect (A1 = I3): kinmix {seconds:.2f} s "
        f"(λGC {lambda_gc:.3f}); peer {text} s; ratio {ratio}"
    )


if __name__ == "__main__":
    main()
