"""`python -m citearchive` runs the command line."""

from .cli.fast import main

main()
