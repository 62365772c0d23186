"""Benchmarks: ``make bench`` runs them; results are recorded in docs/PERFORMANCE.md."""
