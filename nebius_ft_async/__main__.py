"""``python -m nebius_ft_async``: the ``nebius-ft`` command line."""

from .cli import run

run()
