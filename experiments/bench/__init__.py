"""``polylab bench`` benchmarks: each prints a table to record in benchmarks/RESULTS.md."""
