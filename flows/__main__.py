"""`python -m flows ...` runs the `desa` command."""

from flows.entry import main

main()
