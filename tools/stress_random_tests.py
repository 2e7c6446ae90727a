"""Run the tests whose inputs change from run to run, N times, each with a fresh seed.

Command (from the repository root)::

    .venv/bin/python tools/stress_random_tests.py [-n 20] [-- extra pytest options]

Which tests draw new inputs on every run: the hypothesis property tests that are not
derandomized by their own ``settings`` (outside CI, ``tests/conftest.py`` loads the
profile ``dev``, which leaves the seed random). Every other test seeds its generators
(``np.random.default_rng(seed)``, ``RandomState(seed)``), and the reliability suites
(``tests/reliability``) derandomize their hypothesis runs, so repeating them repeats the
same inputs. The selection is made at collection time: loaded as a pytest plugin
(``-p stress_random_tests``), this module deselects every test that is not a hypothesis
test or whose settings derandomize it.

Each run gets ``--hypothesis-seed=S`` with a new random S, with ``CI`` removed from the
environment (hypothesis treats any ``CI`` variable, even empty, as a CI machine and then
derandomizes every test). The script prints one line per run (seed, outcome, seconds)
and, at the end, the number of failed runs with the command that replays each; it exits 1
if any failed.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items) -> None:
    """Keep the hypothesis tests that draw new examples on each run (plugin hook)."""
    keep, drop = [], []
    for item in items:
        test = getattr(item, "obj", None)
        chosen = getattr(test, "is_hypothesis_test", False)
        if chosen:
            test_settings = getattr(test, "_hypothesis_internal_use_settings", None)
            chosen = test_settings is None or not test_settings.derandomize
        (keep if chosen else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep


def command(python: str, seed: int, extra: list[str]) -> list[str]:
    """The pytest command of one run with hypothesis seed ``seed``."""
    return [
        python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "stress_random_tests",
        f"--hypothesis-seed={seed}", *extra,
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=20, help="number of runs")
    parser.add_argument("--python", default=sys.executable, help="interpreter with kinmix")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest options (after --)")
    args = parser.parse_args(argv)
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "tools"),
                                                      env.get("PYTHONPATH")]))
    failures = []
    for run in range(1, args.runs + 1):
        seed = random.SystemRandom().randrange(2**32)
        cmd = command(args.python, seed, args.pytest_args)
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
        outcome = "ok  " if done.returncode == 0 else "FAIL"
        print(f"run {run:>3}/{args.runs}  seed {seed:>10}  {outcome}  {seconds:6.1f} s  {summary}",
              flush=True)
        if done.returncode != 0:
            failures.append(seed)
            print(done.stdout[-4000:], done.stderr[-2000:], sep="\n", flush=True)
    print(f"{args.runs - len(failures)} of {args.runs} runs passed")
    for seed in failures:
        replay = " ".join(command(".venv/bin/python", seed, args.pytest_args))
        print(f"  replay: env -u CI PYTHONPATH=tools {replay}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
