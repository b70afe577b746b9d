"""`python -m benchmarks ...` is `gethory-bench ...` (benchmarks.cli)."""

from benchmarks.cli import main

main()
