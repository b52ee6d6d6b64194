"""
Benchmarks, run by ``nox -s bench`` (``python -m benchmarks``); results go to
``benchmarks/results/``.
"""
