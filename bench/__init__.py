"""Benchmarks against peers measured in the same run: python -m bench.run."""
