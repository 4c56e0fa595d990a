import sys
from pathlib import Path

# Tests import small builders from tests/helpers.py and the reference model from benchmarks/.
ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT / "tests", ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
