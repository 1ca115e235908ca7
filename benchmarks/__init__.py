"""Benchmarks: each module has ``run(...) -> dict`` measured against a baseline in the same run."""
