"""Running the nebius-ft command as a subprocess, for the command line's tests."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios

import anyio


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json_lines(self) -> list[object]:
        return [json.loads(line) for line in self.out.splitlines()]


async def nebius_ft(*args: str, url: str, key: str, cwd: str | None = None) -> Result:
    """``python -m nebius_ft_async ARGS`` against ``url``, stdin not a terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEBIUS_")}
    env |= {"NEBIUS_BASE_URL": url, "NEBIUS_API_KEY": key}
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, "-m", "nebius_ft_async", *args],
            check=False,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
        )
    return Result(done.returncode, done.stdout.decode(), done.stderr.decode())


def _read_until_closed(master: int, until_asked: bool) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
        if until_asked and b"[y/N]" in b"".join(chunks[-2:]):
            return b"".join(chunks)
    return b"".join(chunks)


async def on_terminal(
    url: str, key: str, args: list[str], answer: bytes | None, term: str = "xterm"
) -> tuple[int, str]:
    """Run the command on a 120x40 pty (stdin, stdout, stderr), answer its question if
    ``answer`` is given, and return its exit code and everything it wrote."""
    code, output = await run_on_pty(url, key, args, answer=answer, term=term)
    return code, output.decode(errors="replace")


async def run_on_pty(
    url: str,
    key: str,
    args: list[str],
    *,
    answer: bytes | None = None,
    term: str = "xterm",
    columns: int = 120,
    rows: int = 40,
) -> tuple[int, bytes]:
    """``python -m nebius_ft_async ARGS`` on a pty of ``columns`` x ``rows`` (the size
    variables left out, so the pty's own is read), answering its question if ``answer`` is
    given: its exit code and every byte it wrote."""
    master, child_end = pty.openpty()
    fcntl.ioctl(child_end, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEBIUS_") and k not in _SIZE}
    env |= {"NEBIUS_BASE_URL": url, "NEBIUS_API_KEY": key, "TERM": term}
    try:
        process = await anyio.open_process(
            [sys.executable, "-m", "nebius_ft_async", *args],
            stdin=child_end,
            stdout=child_end,
            stderr=child_end,
            env=env,
            start_new_session=True,
        )
    finally:
        os.close(child_end)
    async with process:
        try:
            with anyio.fail_after(60):
                asked = b""
                if answer is not None:
                    asked = await anyio.to_thread.run_sync(
                        _read_until_closed, master, True, abandon_on_cancel=True
                    )
                    os.write(master, answer + b"\n")
                rest = await anyio.to_thread.run_sync(
                    _read_until_closed, master, False, abandon_on_cancel=True
                )
                code = await process.wait()
        finally:
            os.close(master)
            if process.returncode is None:
                process.kill()
    return code, asked + rest


_SIZE = ("COLUMNS", "LINES")
