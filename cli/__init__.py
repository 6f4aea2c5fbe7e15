"""maskkit's command-line front end (installed as ``maskkit_cli``): a thin layer over the library."""
