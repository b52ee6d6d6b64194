"""
``python -m a1art_async.testing.gateway serve``: see :mod:`._server`.
"""

from ._server import main

if __name__ == "__main__":
    raise SystemExit(main())
