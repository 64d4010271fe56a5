"""``python -m genedge.cli`` runs the CLI, as ``python -m genedge`` does."""

from genedge.cli import main

main()
