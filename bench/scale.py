"""Scale benchmark: the benchmark scripts at 1×, 5× and 10× the reference network, every figure beside the floor
measured in the same run, and how each cost grows against the data.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/prm_scale python bench/scale.py              # 1×, 5×, 10×
    DATABASE_URL=... python bench/scale.py --scales 1,2 --benches nightly                        # a quick look

1× is the reference size the speed targets were set at: 10,000 partners, 2,000,000 leads and 10,000,000
activities for the nightly run (and retention, on the same data), 10,000 partners and 2,000,000 ledger entries for the statement close. Every run
passes --reset to its script, which TRUNCATEs its tables in DATABASE_URL's database: use a scratch database.
At 10× the nightly data takes ~40 GB of disk with its indexes. The scripts' own output is passed through; the
summary at the end reads the RESULT line each script prints.

Growth is the time at a scale divided by the time at the smallest scale and by the data factor between them:
1.00 is linear, above 1 a cost that grows faster than the data.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _n(x: float) -> str:
    return str(max(1, round(x)))


BENCHES = {
    "nightly": lambda f, unit: [
        "--reset",
        *("--partners", _n(10_000 * f * unit), "--leads", _n(2_000_000 * f * unit)),
        *("--activities", _n(10_000_000 * f * unit)),
    ],
    # on the data nightly.py has just generated at the same scale: deletes a first month-and-more of history
    "retention": lambda f, unit: ["--days", "300"],
    "statement_close": lambda f, unit: [
        "--reset",
        *("--partners", _n(10_000 * f * unit), "--entries", _n(2_000_000 * f * unit), "--repeat", "2"),
    ],
}
# Targets of issue 21 at 10×: the KPI phase ≤ 1.5 × its floor on every night, the whole nightly run < 60 s;
# the statement close ≤ 1.5 × its floor.
MAX_RATIO = 1.5
MAX_NIGHT_S = 60


def run(bench: str, factor: float, unit: float) -> dict:
    args = [sys.executable, str(ROOT / "bench" / f"{bench}.py"), *BENCHES[bench](factor, unit)]
    print(f"\n=== {bench} at {factor:g}×: {' '.join(args[2:])}", flush=True)
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    result = None
    for line in proc.stdout:
        print(line, end="", flush=True)
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
    if proc.wait() != 0 or result is None:
        sys.exit(f"{bench} at {factor:g}× failed (exit {proc.returncode}): its figures would compare different work")
    return result


def growth(value: float, base: float, factor: float) -> str:
    return f"{value / base / factor:.2f}" if base else "-"


def report(bench: str, results: list[tuple[float, dict]]) -> list[str]:
    """Print one bench's table; return the targets it misses."""
    base_f, base = results[0]
    missed = []
    print(f"\n{bench}: figure (floor, ratio) per scale; growth = time ÷ time at {base_f:g}× ÷ data factor")
    if bench == "nightly":
        print(
            f"{'scale':>6} {'partners':>9} {'leads':>11} {'activities':>12}  night  run s  KPI s  floor s  ratio  growth"
        )
        for f, r in results:
            for night in ("first", "steady"):
                n = r.get(night)
                if not n:
                    continue
                g = growth(n["run_s"], base.get(night, n)["run_s"], f / base_f)
                print(
                    f"{f:>5g}× {r['partners']:>9,} {r['leads']:>11,} {r['activities']:>12,}  {night:<6}"
                    f" {n['run_s']:>6.2f} {n['kpi_s']:>6.2f} {n['floor_s']:>8.2f} {n['ratio']:>6.2f} {g:>7}"
                )
                if n["ratio"] > MAX_RATIO:
                    missed.append(f"nightly {night} night at {f:g}×: KPI {n['ratio']:.2f} × its floor (> {MAX_RATIO})")
                if f >= 10 and n["run_s"] >= MAX_NIGHT_S:
                    missed.append(f"nightly {night} night at {f:g}×: {n['run_s']:.1f} s (target < {MAX_NIGHT_S} s)")
    elif bench == "retention":
        print(f"{'scale':>6} {'activities':>12} {'pruned':>10}  prune s  floor s  ratio  growth  vacuum s  read p99 ms")
        for f, r in results:
            g = growth(r["prune_s"], base["prune_s"], f / base_f)
            print(
                f"{f:>5g}× {r['activities']:>12,} {r['pruned']:>10,} {r['prune_s']:>8.2f} {r['floor_s']:>8.2f}"
                f" {r['ratio']:>6.2f} {g:>7} {r['vacuum_s']:>9.2f}"
                f"  {r['read_p99_before_ms']:.1f} → {r['read_p99_after_ms']:.1f}"
            )
    else:
        print(f"{'scale':>6} {'partners':>9} {'entries':>11}  close s  floor s  ratio  growth")
        for f, r in results:
            g = growth(r["close_s"], base["close_s"], f / base_f)
            print(
                f"{f:>5g}× {r['partners']:>9,} {r['entries']:>11,} {r['close_s']:>8.2f} {r['floor_s']:>8.2f}"
                f" {r['ratio']:>6.2f} {g:>7}"
            )
            if r["ratio"] > MAX_RATIO:
                missed.append(f"statement close at {f:g}×: {r['ratio']:.2f} × its floor (> {MAX_RATIO})")
    loads = ", ".join(f"{r['load']:.1f}" for _, r in results)
    print(f"load average (1 min) at the end of each run: {loads} ({os.cpu_count()} CPUs)")
    return missed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1,5,10", help="factors of the reference size, e.g. 1,5,10")
    parser.add_argument("--benches", default=",".join(BENCHES), help=f"any of {', '.join(BENCHES)}")
    parser.add_argument("--unit", type=float, default=1.0, help="size of 1× relative to the reference (tests: 0.001)")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database (the scripts TRUNCATE their tables).")
    scales = sorted(float(s) for s in args.scales.split(","))
    benches = args.benches.split(",")
    unknown = set(benches) - set(BENCHES)
    if unknown:
        sys.exit(f"unknown benches: {', '.join(sorted(unknown))}")
    if "retention" in benches and ("nightly" not in benches or benches.index("retention") < benches.index("nightly")):
        sys.exit("retention runs on the data nightly runs on: list nightly before it")
    results = {b: [] for b in benches}
    for f in scales:
        for b in benches:
            results[b].append((f, run(b, f, args.unit)))
    print("\n=== Summary")
    missed = [m for b in benches for m in report(b, results[b])]
    for m in missed:
        print("NOT MET:", m)
    if not missed:
        print("every target met at these sizes")


if __name__ == "__main__":
    main()
