"""Benchmarks of the gateway. See bench/README.md."""
