"""
The tables of a distributed batch, beside procrastinate's own.

==================  ===================================================================
``a1art_batches``   one row per batch: its credit budget and what its claims reserved
                    (``spent``), and how its shards run (``settings``)
``a1art_jobs``      one row per job: the journal record (state, task id, files, ...),
                    the job's parameters (``params``, so any worker can rebuild it),
                    its provider, the worker that wrote it last, the claim of the
                    worker that moved it into ``submitting``, and ``ended``: a number
                    from ``a1art_ended`` when it reached a final state, in that order
``a1art_rates``     one row per API key (by hash, never the key): the shared request
                    budget's GCRA state and adaptive rate
==================  ===================================================================

``seq`` numbers a batch's jobs in the order they were enqueued (from one sequence for
every batch); a shard is a range of them.  Creating the schema is idempotent and takes
an advisory lock, so workers starting together do not race.
"""

from __future__ import annotations

from typing import Final

#: Serializes schema creation across processes (an arbitrary constant).
SCHEMA_LOCK: Final = 0x41314152

TABLES: Final = """
CREATE SEQUENCE IF NOT EXISTS a1art_ended;
CREATE TABLE IF NOT EXISTS a1art_batches (
    name text PRIMARY KEY,
    budget bigint,
    spent bigint NOT NULL DEFAULT 0,
    settings jsonb NOT NULL DEFAULT '{}',
    created timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE IF NOT EXISTS a1art_jobs (
    batch text NOT NULL REFERENCES a1art_batches (name) ON DELETE CASCADE,
    key text NOT NULL,
    seq bigserial NOT NULL,
    provider text NOT NULL DEFAULT 'a1art',
    params jsonb NOT NULL DEFAULT '{}',
    state text NOT NULL DEFAULT 'pending',
    task_id text,
    files jsonb NOT NULL DEFAULT '[]',
    error text,
    cost integer NOT NULL DEFAULT 0,
    updated double precision NOT NULL,
    route text,
    hint double precision,
    submitted_at double precision,
    worker text,
    claim uuid,
    ended bigint,
    PRIMARY KEY (batch, key)
);
CREATE UNIQUE INDEX IF NOT EXISTS a1art_jobs_seq ON a1art_jobs (batch, seq);
CREATE INDEX IF NOT EXISTS a1art_jobs_ended ON a1art_jobs (batch, ended)
    WHERE ended IS NOT NULL;
CREATE TABLE IF NOT EXISTS a1art_rates (
    key_hash text PRIMARY KEY,
    rate double precision NOT NULL,
    tat double precision NOT NULL,
    epoch bigint NOT NULL DEFAULT 0,
    slow_start boolean NOT NULL DEFAULT true,
    last_decrease double precision,
    refusals bigint NOT NULL DEFAULT 0,
    decreases bigint NOT NULL DEFAULT 0
);
"""
