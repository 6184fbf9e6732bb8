"""Print the time pytest spent per test file (so per chapter notebook) from a JUnit XML report,
and fail when a chapter is over the ceiling.

Usage: python tools/timings.py report.xml [report2.xml ...] [--ceiling SECONDS]

Several reports (``make test`` writes one for the unit tests and one for the chapters) are
added together. A chapter's time is its own wall time, from its first cell to its last, on the
worker that ran it (with ``make test``'s default two workers: one torch thread, the other core
busy with another chapter).

Exit status: 0 when every chapter took at most the ceiling (default 120 s, the spec's hard
per-chapter limit under nbval), 1 when one or more took longer (each is named on stderr),
2 for bad usage.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict

CEILING_S = 120.0  # hard per-chapter limit; the target is 60 s


def per_file(path: str) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("file") or case.get("classname", "?").replace(".", "/")
        if "ipynb" in (case.get("classname") or "") or "ipynb" in name:
            key = (case.get("classname") or name).split("::")[0]
        else:
            key = name.split("/")[0] if "/" in name else name
        totals[key] += float(case.get("time") or 0.0)
    return dict(totals)


def over_ceiling(totals: dict[str, float], ceiling: float = CEILING_S) -> dict[str, float]:
    """The notebooks whose total time exceeds ``ceiling`` seconds."""
    return {k: v for k, v in totals.items() if "ipynb" in k and v > ceiling}


def main(argv: list[str]) -> int:
    ceiling = CEILING_S
    if "--ceiling" in argv:
        i = argv.index("--ceiling")
        try:
            ceiling = float(argv[i + 1])
        except (IndexError, ValueError):
            print(__doc__, file=sys.stderr)
            return 2
        argv = argv[:i] + argv[i + 2:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    totals: dict[str, float] = defaultdict(float)
    for path in argv:
        for k, v in per_file(path).items():
            totals[k] += v
    notebooks = {k: v for k, v in totals.items() if "ipynb" in k}
    for k in sorted(notebooks):
        print(f"time: {k:<45} {notebooks[k]:7.1f} s")
    print(f"time: {'all notebooks':<45} {sum(notebooks.values()):7.1f} s")
    print(f"time: {'unit tests':<45} {sum(v for k, v in totals.items() if k not in notebooks):7.1f} s")
    slow = over_ceiling(totals, ceiling)
    for k in sorted(slow):
        print(f"timings: {k} took {slow[k]:.1f} s, over the {ceiling:g} s per-chapter ceiling", file=sys.stderr)
    if slow:
        print(f"timings: {len(slow)} chapter(s) over the ceiling: make them faster", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
