"""Names shared by the bench servers and the load generator."""

BENCH_APP = "bench"
BENCH_PASSWORD = "bench-password"
