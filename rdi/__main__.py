"""`python -m rdi ...` is the `rdi` command."""

from rdi.cli.main import main

main()
