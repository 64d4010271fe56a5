"""``python -m genedge`` runs the CLI."""

from genedge.cli import main

main()
