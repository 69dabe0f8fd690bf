"""`python -m citearchive` runs the command line."""

from .cli.app import app

app(prog_name="citearchive")
