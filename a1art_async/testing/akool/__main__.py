"""
``python -m a1art_async.testing.akool serve``: see :mod:`._server`.
"""

from ._server import main

if __name__ == "__main__":
    raise SystemExit(main())
