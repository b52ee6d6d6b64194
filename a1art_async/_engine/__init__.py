"""
The engine every API of this library runs on; it imports nothing from any provider.

Layers, bottom up (each module imports only those above it in this list):

- ``_errors``: the shared error tree and :func:`code_table` for per-provider code tables.
- ``_logging``, ``_streams``, ``_cost``, ``_group``: small shared pieces.
- ``_retry``: which failures may be retried, backoff, and the ``SpendGuard`` protocol.
- ``_fast``: the optional aiohttp transport (the ``fast`` extra).
- ``_limiter``: the request budget (slots, priorities) over a ``TokenSource``.
- ``_events``: events and listeners.
- ``_optimal``: lognormal durations, Keller's bound, the optimal schedule for a cost.
- ``_learn``: learned duration distributions per family, exportable.
- ``_schedule``: ``PollPolicy`` and the pure schedule functions.
- ``_handles``: neutral job handles, statuses, outcomes, tokens, the ``Poller`` protocol.
- ``_scheduler``: one polling loop per client over ``Poller`` s.
- ``_session``: the request path (auth, wire, retries, budget) and the client lifecycle.
- ``_journal``, ``_download``: batch storage and result files.
- ``_batch``: batches over provider ``Job`` s.

See ``docs/architecture.md``.
"""
