"""``python -m maskkit`` runs the command-line interface; importing this module does nothing."""

if __name__ == "__main__":
    from maskkit_cli.main import main

    main()
