"""`python -m gateway`: the same as the `minimax-gateway` command."""

from gateway.cli import main

main()
