"""
``python -m benchmarks``: run every benchmark (today, the polling benchmark in full).
"""

from __future__ import annotations

import sys

from benchmarks import polling

if __name__ == "__main__":
    raise SystemExit(polling.main(sys.argv[1:]))
