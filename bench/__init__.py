"""Benchmarks for Wellspring, measured as ratios against a real server process.

Absolute latencies on a shared 2-core machine drift by tens of percent from one minute to the next, so every
figure here is a ratio of two operations measured in alternating short rounds against the same server
(``python -m bench``), next to a control pair that compares an operation with itself and must read 1.00.
``python -m bench.profile`` samples the server with py-spy under load to show where the time goes.
"""
