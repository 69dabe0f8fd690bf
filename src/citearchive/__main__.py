"""`python -m citearchive` runs the command line."""

from .cli import app

app(prog_name="citearchive")
