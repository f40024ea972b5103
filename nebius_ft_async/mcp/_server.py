"""The MCP server: ``TOOLS`` served over stdio with the MCP SDK's low-level ``Server``.

The only module that imports ``mcp``. A call is converted into the tool's input Struct,
checked against the start-up flags, run, and answered with the compact JSON of the result
(as text, and as structured content that matches the tool's output schema). Every failure
is answered as a tool error (``isError``) whose text names the HTTP status and the server's
detail; the API key is never in it. Progress goes out as MCP progress notifications when
the client asked for them. A client's ``notifications/cancelled`` cancels the call: the
SDK cancels the handler, which stops the wait and its in-flight request.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import mcp.types as types
import msgspec
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from .._errors import (
    APIStatusError,
    JobWaitError,
    NebiusError,
    UnprocessableEntityError,
    WaitTimeout,
)
from .._session import AsyncSession
from .._version import __version__
from ._options import ServerOptions
from ._schema import schema_of
from ._tools import TOOLS, TOOLS_BY_NAME, Tool, ToolContext, ToolRefused

log = logging.getLogger("nebius_ft_async")

SERVER_NAME = "nebius-ft"

INSTRUCTIONS = (
    "Tools for Nebius Token Factory fine-tuning: check_data_file a local JSONL training "
    "file, upload_file it, create_job on it (try dry_run=true first), wait_for_job until it "
    "is final, then list_checkpoints or get_operation_results for what it produced; "
    "deploy_checkpoint serves a checkpoint as a custom model, followed with wait_for_model. "
    "Ids look like ftjob-... and file-...; lists are paged with limit/after."
)


def tool_list(options: ServerOptions) -> list[types.Tool]:
    """The tools as MCP lists them; a tool off on this server says so in its description."""
    listed = []
    for tool in TOOLS:
        description = tool.description
        if tool.refusal(options) is not None:
            what = "Only dry runs" if "dry_run" in tool.input_type.__struct_fields__ else "Off"
            description += f" [{what} on this server: it was not started with {tool.flag()}.]"
        listed.append(
            types.Tool(
                name=tool.name,
                description=description,
                input_schema=schema_of((tool.input_type,)),
                output_schema=schema_of(tool.output_types, defaults=False),
                annotations=types.ToolAnnotations(
                    read_only_hint=tool.read_only,
                    destructive_hint=tool.destructive,
                    idempotent_hint=tool.idempotent,
                    open_world_hint=True,
                ),
            )
        )
    return listed


def error_text(error: Exception, tool: str) -> str:
    """What a failed call of ``tool`` tells the agent: the HTTP status and the server's
    detail, or what was wrong with the arguments. The caller removes the key from it."""
    if isinstance(error, UnprocessableEntityError) and error.errors:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item.loc)}: {item.msg}" for item in error.errors
        )
        return f"HTTP 422: the server refused the request: {problems}"
    if isinstance(error, APIStatusError):
        detail = error.detail if isinstance(error.detail, str) else _json(error.detail)
        return f"HTTP {error.status_code}: {detail}"
    if isinstance(error, WaitTimeout):
        return f"{error}; call {tool} again to keep waiting"
    if isinstance(error, JobWaitError) and isinstance(error.error, Exception):
        return f"waiting for {error.job_id} stopped: {error_text(error.error, tool)}"
    if isinstance(error, msgspec.ValidationError):
        return f"invalid arguments: {error}"
    if isinstance(error, ToolRefused | NebiusError | ValueError | OSError):
        return str(error)
    return f"internal error ({type(error).__name__}); see the server's log"


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def build_server(session: AsyncSession, options: ServerOptions) -> Server[Any]:
    """A low-level MCP ``Server`` whose tools call the API through ``session``."""
    redactor = session._redactor  # the session's own: the key in every spelling it may take
    listed = tool_list(options)

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        tool = TOOLS_BY_NAME.get(params.name)
        if tool is None:
            known = ", ".join(TOOLS_BY_NAME)
            return _failure(f"no tool named {params.name!r}; the tools are {known}")
        try:
            result = await _run(tool, ctx, params.arguments or {})
        except anyio.get_cancelled_exc_class():
            log.info("%s cancelled by the client", tool.name)
            raise
        except Exception as error:
            if not isinstance(error, NebiusError | ToolRefused | ValueError | OSError):
                log.exception("%s failed", tool.name)
            return _failure(redactor.text(error_text(error, tool.name)))
        # through JSON once, so the structured content is exactly what the text says
        content = redactor.value(msgspec.json.decode(msgspec.json.encode(result)))
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=_json(content))],
            structured_content=content,
        )

    async def _run(tool: Tool[Any], ctx: ServerRequestContext[Any], arguments: Any) -> Any:
        args = msgspec.convert(arguments, tool.input_type, strict=False)
        refusal = tool.refusal(options, args)
        if refusal is not None:
            raise ToolRefused(refusal)

        async def progress(done: float, total: float | None, message: str) -> None:
            await ctx.session.report_progress(done, total, message)

        return await tool.run(ToolContext(session, options, progress), args)

    return Server(
        SERVER_NAME,
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def _failure(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


async def serve_stdio(
    options: ServerOptions, *, api_key: str | None = None, base_url: str | None = None
) -> None:
    """Serve MCP on stdin/stdout until the client closes it.

    ``api_key`` and ``base_url`` default to ``NEBIUS_API_KEY`` and ``NEBIUS_BASE_URL``, as
    for ``AsyncSession``; a missing key fails here, before anything is served.
    """
    async with AsyncSession(api_key, base_url=base_url) as session:
        server = build_server(session, options)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
