"""
``python -m benchmarks``: run every benchmark (polling, end to end, distributed).
"""

from __future__ import annotations

import sys

from benchmarks import distributed, e2e, polling

if __name__ == "__main__":
    quick = ["--quick"] if "--quick" in sys.argv else []
    status = polling.main(sys.argv[1:])
    # End to end over loopback HTTP: quick too when asked; results/e2e*.json.
    status = status or e2e.main(quick)
    # Distributed batches on a throwaway PostgreSQL; results/distributed.json.
    raise SystemExit(status or distributed.main(quick))
