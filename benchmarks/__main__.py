"""
``python -m benchmarks``: run every benchmark (polling, then end to end).
"""

from __future__ import annotations

import sys

from benchmarks import e2e, polling

if __name__ == "__main__":
    status = polling.main(sys.argv[1:])
    # End to end over loopback HTTP: quick too when asked; results/e2e*.json.
    raise SystemExit(status or e2e.main(["--quick"] if "--quick" in sys.argv else []))
