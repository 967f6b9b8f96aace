"""Which masses several cross-validation runs found: the union, and each mass's count.

Reads the ``lesions.md`` tables that ``benchmarks/mias_lesion_table.py`` writes (one per run,
each at its own 1-FP/image point) and prints, for every mass not found by all runs, in how
many runs it was found and its best score in each:

    python benchmarks/mias_found_by_runs.py docs/run-records/cv_*/lesions.md

"What limits it" in docs/results.md quotes this table.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def read_lesions(path: Path) -> dict[str, tuple[bool, str, list[str]]]:
    """image -> (found, best score, [fold, class, severity, radius, tissue]) of a lesions.md."""
    rows = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 9 and cells[1].startswith("mdb"):
            rows[cells[1]] = (cells[7] == "yes", cells[8], cells[2:7])
    if not rows:
        raise SystemExit(f"{path}: no mass rows (not a lesions.md of mias_lesion_table.py)")
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("tables", type=Path, nargs="+", help="lesions.md of each run")
    args = p.parse_args(argv)
    runs = {path.parent.name or str(path): read_lesions(path) for path in args.tables}
    masses = sorted(set().union(*runs.values()))
    found = {m: sum(r[m][0] for r in runs.values() if m in r) for m in masses}
    n = len(runs)
    print(f"{len(masses)} masses, {n} runs: found by all {sum(v == n for v in found.values())}, "
          f"by some {sum(0 < v < n for v in found.values())}, by none "
          f"{sum(v == 0 for v in found.values())}; union {sum(v > 0 for v in found.values())}; "
          f"best single run {max(sum(f for f, _, _ in r.values()) for r in runs.values())}\n")  # fmt: skip
    header = ["image", "fold", "class", "severity", "radius", "tissue", "found by"] + list(runs)
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for mass in sorted(masses, key=lambda m: (found[m], m)):
        if found[mass] == n:
            continue
        info = next(r[mass][2] for r in runs.values() if mass in r)
        scores = [
            (f"**{r[mass][1]}**" if r[mass][0] else r[mass][1]) if mass in r else "n/a"
            for r in runs.values()
        ]
        print("| " + " | ".join([mass, *info, f"{found[mass]} of {n}", *scores]) + " |")


if __name__ == "__main__":
    main()
