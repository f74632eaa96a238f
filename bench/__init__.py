"""Load benchmarks of the editor, each runnable as ``python -m bench.<workload>``.

Every workload builds its own SQLite database in a temporary directory, starts its
own daphne on a free loopback port, drives it with :class:`editor.client.CollabClient`
and writes its figures to ``bench/results/<workload>.json``. See docs/performance.md.
"""
