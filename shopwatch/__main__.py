"""``python -m shopwatch`` runs the command-line interface."""

from cli.main import run

run()
