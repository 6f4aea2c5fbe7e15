"""``python -m maskkit`` runs the command-line interface."""

from maskkit_cli.main import main

main()
