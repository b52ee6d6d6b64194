"""
``python -m a1art_async.testing serve``: see :mod:`a1art_async.testing._a1art._server`.
"""

from ._a1art._server import main

if __name__ == "__main__":
    raise SystemExit(main())
