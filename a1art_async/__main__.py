"""
``python -m a1art_async``: the ``a1art`` command line.
"""

from ._main import main

if __name__ == "__main__":
    main()
