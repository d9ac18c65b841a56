"""Benchmarks: each prints its figures beside its target and can record them in docs/benchmarks.md."""
