"""Benchmarks: `alphanas bench NAME`."""
