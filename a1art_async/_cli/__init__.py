"""
The ``a1art`` command line, behind the ``cli`` extra (rich).

One concept per module:

- ``_exit``: the documented exit statuses, and every error as one line;
- ``_args``: the argument parser (global options work before or after the command);
- ``_app``: :func:`run`, which parses, sets up logging, dispatches and maps errors;
- ``_context``: what every command shares: the options, the client, the output;
- ``_interrupt``: Ctrl-C without losing a task that was paid for;
- ``_fields``: the SDK's argument names as flags and job-file columns;
- ``_output``: results on stdout, as text or as one JSON document (``--json``);
- ``_progress``: the progress board of a batch and how it is shown on stderr;
- ``_jobs``: reading JSONL and CSV job files;
- ``_runner``: a list of jobs through ``client.batch`` with live progress;
- ``_commands``: ``apps show``, ``upload``, ``generate``, ``enhance``, ``task``;
- ``_batch``, ``_demo``, ``_serve``: ``batch``, ``demo``, ``emulator serve``.

Only ``_exit`` (and ``_fields``, which it uses) may be imported without rich installed.
"""

from __future__ import annotations

from collections.abc import Sequence


def run(argv: Sequence[str]) -> int:
    """
    Run the command line; return the exit status.
    """
    from ._app import run as run_app

    return run_app(argv)
