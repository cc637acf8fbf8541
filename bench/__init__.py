"""segflow benchmarks: each module measures a workload against a baseline run in the same process."""
