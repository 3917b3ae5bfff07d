"""Benchmarks for Wellspring, measured as ratios against a real server process.

Absolute latencies on a shared 2-core machine drift by tens of percent from one minute to the next, so every
figure here is a ratio of two operations measured in alternating short rounds against the same server
(``python -m bench``), next to a control pair that compares an operation with itself and must read 1.00.
Two servers are measured in the same run: the embedded default (SQLite, in-process cache) and a Redis-backed
one (PostgreSQL and a redis-server of the bench's own), the latter also with its Redis killed.
Streaming figures (bulk Import/Export items per second, Watch fan-out latency; ``bench/streaming.py``) follow
on fresh servers of their own.
``python -m bench.profile`` samples the server with py-spy under load to show where the time goes.
"""
