"""``python -m deident``: the ``deident`` command, for environments without the console script."""

from deident.cli import main

main()
