"""Make `common` and every model folder importable, as the scripts find them when run from their folder."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in [ROOT, *sorted(p.parent for p in ROOT.glob("*/chain.py"))]:
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
