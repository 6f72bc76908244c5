"""Benchmarks of appws against a bare Channels consumer, uvicorn and raw websockets.

Run ``python -m bench`` (full run, about ten minutes) or ``python -m bench --quick``
(about a minute and a half); see docs/performance.md.
"""
