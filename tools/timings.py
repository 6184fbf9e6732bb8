"""Print the time pytest spent per test file (so per chapter notebook) from a JUnit XML report.

Usage: python tools/timings.py report.xml
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict


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


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    totals = per_file(argv[0])
    notebooks = {k: v for k, v in totals.items() if "ipynb" in k}
    for k in sorted(notebooks):
        print(f"time: {k:<45} {notebooks[k]:7.1f} s")
    print(f"time: {'all notebooks':<45} {sum(notebooks.values()):7.1f} s")
    print(f"time: {'unit tests':<45} {sum(v for k, v in totals.items() if k not in notebooks):7.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
