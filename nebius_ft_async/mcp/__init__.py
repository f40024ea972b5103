"""``nebius-ft mcp``: the fine-tuning workflow as tools for agents, over MCP (stdio).

::

    nebius-ft mcp                                   # read-only tools, plus dry-run creates
    nebius-ft mcp --allow-create --allow-upload --root ./data
    nebius-ft mcp --allow-deploy                    # deploy and delete custom models

Needs the ``mcp`` extra (``pip install 'nebius-ft-async[mcp]'``). Only ``_server`` imports
the MCP SDK, and only when the server starts: the command line parses ``mcp`` without it,
and ``import nebius_ft_async`` never loads it. The tools themselves (``TOOLS`` in ``_tools``)
are plain declarations over the library's own types.
"""

from ._command import add_command, run_command
from ._options import ServerOptions

__all__ = ["ServerOptions", "add_command", "run_command"]
