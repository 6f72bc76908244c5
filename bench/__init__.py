"""Benchmarks of appws against a bare Channels consumer, uvicorn and raw websockets.

Run ``python -m bench`` (full run, about ten minutes) or ``python -m bench --quick``
(under a minute); see docs/performance.md.
"""
