"""Benchmarks: each prints its figures beside its target; ``--record`` writes docs/benchmarks.md."""
