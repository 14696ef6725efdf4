"""Benchmarks: each module's run() returns a dict of figures beside a baseline measured in the same run."""
