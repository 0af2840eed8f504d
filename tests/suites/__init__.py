"""The proof suites (issue 8): fuzz, chaos, replay and the pipeline they run on.

The pytest entry points are `tests/integration/test_fuzz.py`, `test_chaos.py` and
`test_replay_suite.py`; the long runs are `make chaos` (`python -m tests.suites.chaos`) and
`make soak` / `make bench-e2e` (in `bench/`), which reuse `tests.suites.stack`.
"""
