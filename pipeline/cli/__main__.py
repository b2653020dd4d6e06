"""`python -m pipeline.cli`: the same as the `realtrace` console script."""

from pipeline.cli import main

main()
