"""Names shared by the bench servers and the load generator."""

from pathlib import Path

BENCH_APP = "bench"
BENCH_PASSWORD = "bench-password"
# The service that replicates its PBX's users (workload 10); same password.
BENCH_USERS_APP = "benchusers"
# The repository root: the server processes run there, so that bench and demo_site import.
ROOT = Path(__file__).resolve().parents[1]
