"""Peak memory of ``kinmix scan`` does not grow with the number of variants.

Writes two PLINK cohorts with the same n samples and m = 30,000 and m = 300,000 variants
(on 10 chromosomes), runs ``kinmix scan`` (LOCO, checkpointed) on each in a child process
and reads the child's peak resident memory: ``VmHWM`` of ``/proc/self/status``, which the
child prints as it exits. Not ``ru_maxrss``: Linux carries the peak of the address space a
process leaves at ``execve`` into it, and a child started by ``subprocess`` (vfork, then
exec) leaves this script's, so its ``ru_maxrss`` is at least this script's own peak —
writing the m = 300,000 cohort took 270 MiB, more than the scan. The claim:
the two peaks differ by less than the in-memory size of the m = 300,000 results table, the
one thing that must grow with m. That size is ``memory_usage(deep=True)`` of the table
read back from ``results.parquet`` by pandas (Arrow-backed strings, float64 and int64
columns, about 130 bytes a row). Prints the peaks, the table size, the size the added
dosages would have in memory (what a scan holding G would need) and the verdict, and
exits 1 if the claim fails.

Both runs read blocks of ``--chunk-size`` variants (default 2,000). A block holds
n × chunk dosages whatever m is, but a block never spans two chromosomes: with kinmix's
default size (2²⁴ entries, 33,554 variants at n = 500, capped at 16,384) the 3,000-variant
chromosomes of the small cohort would be read in smaller blocks than the 30,000-variant
ones of the large cohort, and the peaks would differ by those blocks' size, not by
anything that grows with m. Run ``python benchmarks/memory.py`` (a few minutes; about 200
MB of files in a temporary folder) or ``--samples 200 --small 3000 --large 30000``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

MIB = 2.0**20
#: PLINK 1 .bed codes of the dosage of allele 1 (2, 1, 0); 0b01 is missing.
CODES = np.array([0b11, 0b10, 0b00], dtype=np.uint8)
#: Runs the ``kinmix`` command, then prints the peak resident memory of its own address
#: space (``VmHWM``, kB) as the last line of its output.
RUN = (
    "import sys; from kinmix.cli import main; code = main(sys.argv[1:]); "
    "print([line for line in open('/proc/self/status') if line.startswith('VmHWM')][0]"
    ".split()[1]); sys.exit(code)"
)


def write_cohort(prefix: Path, n: int, m: int, *, chromosomes: int = 10, seed: int = 0):
    """A PLINK cohort written block by block (never m × n in memory) and a trait."""
    rng = np.random.default_rng(seed)
    per_byte = 4
    width = -(-n // per_byte)
    chrom = np.repeat(np.arange(1, chromosomes + 1), -(-m // chromosomes))[:m]
    with open(prefix.with_suffix(".bed"), "wb") as bed:
        bed.write(bytes([0x6C, 0x1B, 0x01]))
        for start in range(0, m, 10_000):
            count = min(10_000, m - start)
            p = rng.uniform(0.05, 0.5, size=count)
            G = rng.binomial(2, p[:, None], size=(count, n))
            codes = np.zeros((count, width * per_byte), dtype=np.uint8)
            codes[:, :n] = CODES[G]
            packed = codes.reshape(count, width, per_byte) << (2 * np.arange(per_byte))
            bed.write(packed.sum(axis=2, dtype=np.uint8).tobytes())
    bim = pd.DataFrame(
        {"chrom": chrom, "id": [f"v{j}" for j in range(m)], "cm": 0, "pos": np.arange(m) + 1}
    )
    bim["a1"], bim["a2"] = "A", "G"
    bim.to_csv(prefix.with_suffix(".bim"), sep="\t", header=False, index=False)
    ids = [f"s{i}" for i in range(n)]
    fam = pd.DataFrame({"fid": ids, "iid": ids, "f": 0, "m": 0, "sex": 0, "ph": -9})
    fam.to_csv(prefix.with_suffix(".fam"), sep=" ", header=False, index=False)
    pheno = pd.DataFrame({"FID": ids, "IID": ids, "trait": rng.normal(size=n)})
    pheno.to_csv(prefix.with_name(prefix.name + ".pheno.tsv"), sep="\t", index=False)


def peak_of_scan(prefix: Path, out: Path, chunk: int) -> float:
    """Peak resident memory (MiB) of a ``kinmix scan`` child process."""
    argv = [sys.executable, "-c", RUN, "scan", "--bfile", str(prefix), "--quiet"]
    argv += ["--chunk-size", str(chunk)]
    argv += ["--pheno", str(prefix.with_name(prefix.name + ".pheno.tsv")), "--out", str(out)]
    child = subprocess.run(argv, capture_output=True, text=True)
    if child.returncode != 0:
        raise SystemExit(f"kinmix scan failed: {child.stderr[-2000:]}")
    return int(child.stdout.split()[-1]) / 1024  # kilobytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--small", type=int, default=30_000, help="variants of the small run")
    parser.add_argument("--large", type=int, default=300_000, help="variants of the large run")
    parser.add_argument("--chunk-size", type=int, default=2000, help="variants per block")
    args = parser.parse_args()
    block = args.samples * args.chunk_size * 8 / MIB
    print(f"blocks of {args.chunk_size} variants: {block:.1f} MiB of float64 dosages each")
    with tempfile.TemporaryDirectory() as folder:
        peaks, tables = {}, {}
        for m in (args.small, args.large):
            prefix = Path(folder) / f"m{m}"
            write_cohort(prefix, args.samples, m)
            peaks[m] = peak_of_scan(prefix, Path(folder) / f"out{m}", args.chunk_size)
            table = pd.read_parquet(Path(folder) / f"out{m}" / "results.parquet")
            tables[m] = table.memory_usage(deep=True).sum() / MIB
            print(f"n = {args.samples}, m = {m:>7}: peak {peaks[m]:8.1f} MiB, "
                  f"results table {tables[m]:6.1f} MiB", flush=True)
    growth = peaks[args.large] - peaks[args.small]
    dosages = args.samples * (args.large - args.small) * 8 / MIB
    print(f"peak growth {growth:.1f} MiB vs the large table's {tables[args.large]:.1f} MiB "
          f"(ratio {growth / tables[args.large]:.2f}; the claim: below 1) and vs the "
          f"{dosages:.0f} MiB the added dosages would take in float64 "
          f"(ratio {growth / dosages:.2f})")
    if growth >= tables[args.large]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
