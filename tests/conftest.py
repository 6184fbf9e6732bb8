import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tools/ is a plain folder of scripts, importable from the root
    sys.path.insert(0, str(ROOT))
