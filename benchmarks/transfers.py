"""Transfers: a dataset uploaded in parts against one streamed upload_file of the same bytes,
and a download through a storage redirect against a direct one.

    python benchmarks/transfers.py                  # 2 GiB up (3 runs), 1 GiB down (7 runs)
    python benchmarks/transfers.py --quick          # tiny sizes, one run: a smoke test
    python benchmarks/transfers.py --instructions-mib 64   # the redirect's cost (valgrind)

A server process on 127.0.0.1 plays the API (create / part / complete / get of a multipart
upload, ``POST /v1/files``) and, on a second port, the object storage; it reads every body
and keeps only its length, and serves a download from a reused buffer. Each measured transfer
runs in a fresh client process, which reports its wall time, its CPU time (user + system)
and its peak RSS growth (``ru_maxrss`` at the end minus the RSS just before the transfer).
Ratios are per run (each run measures both sides back to back; the download pairs alternate
which goes first) and reported as min / median. Downloads land on ``/dev/shm`` where it can
be written, so that disk writeback does not time the disk, after one download not measured
(the first one allocates the pages the others reuse).

Wall and CPU time of a loopback download swing by tens of percent between runs on a shared
machine, more than a redirect can cost. ``--instructions-mib N`` counts instead, with
valgrind's callgrind, the user-space instructions of client processes: a direct download of
N MiB, one through the redirect, and a direct one of 2N MiB. Redirect minus direct is what
following the redirect costs; 2N minus N is what streaming costs per MiB; together they give
the ratio of throughputs at ``--download-mib`` (kernel work is not counted: the redirect
adds one connection to it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._callgrind import instructions
from nebius_ft_async import AsyncSession

_CHUNK = 1024 * 1024
_BUFFER = bytes(_CHUNK)


def _server(port_file: str) -> None:
    """The API and the storage, until killed."""
    uploads: dict[str, int] = {}

    async def drain(request: web.Request) -> int:
        received = 0
        async for chunk in request.content.iter_any():
            received += len(chunk)
        return received

    async def upload_file(request: web.Request) -> web.Response:
        return web.json_response({"id": "file-1", "bytes": await drain(request)})

    async def create_upload(request: web.Request) -> web.Response:
        uploads["upload-1"] = 0
        return web.json_response({"id": "upload-1", "upload_info": {"status": "PENDING"}})

    async def part(request: web.Request) -> web.Response:
        uploads["upload-1"] += await drain(request)
        return web.json_response({"id": f"part-{time.monotonic_ns()}"})

    async def complete(request: web.Request) -> web.Response:
        return web.json_response({"id": "upload-1", "upload_info": {"status": "COMPLETING"}})

    async def get_upload(request: web.Request) -> web.Response:
        info = {"status": "COMPLETED", "dataset": {"id": "dataset-1"}}
        return web.json_response({"id": "upload-1", "upload_info": info})

    async def get_dataset(request: web.Request) -> web.Response:
        return web.json_response({"id": "dataset-1", "metadata": {"bytes": uploads["upload-1"]}})

    async def stream(request: web.Request) -> web.StreamResponse:
        size = int(request.query["bytes"])
        response = web.StreamResponse(headers={"Content-Length": str(size)})
        await response.prepare(request)
        left = size
        while left:
            piece = _BUFFER[: min(left, _CHUNK)]
            await response.write(piece)
            left -= len(piece)
        return response

    async def content(request: web.Request) -> web.StreamResponse:
        if request.query.get("direct"):
            return await stream(request)
        size = request.query["bytes"]
        raise web.HTTPFound(f"{storage_origin}/object?X-Amz-Signature=s&bytes={size}")

    async def main() -> None:
        nonlocal storage_origin
        storage = web.Application()
        storage.router.add_get("/object", stream)
        storage_runner = web.AppRunner(storage, access_log=None)
        await storage_runner.setup()
        await web.TCPSite(storage_runner, "127.0.0.1", 0).start()
        storage_origin = f"http://127.0.0.1:{storage_runner.addresses[0][1]}"
        api = web.Application(client_max_size=1024**4)
        api.router.add_post("/v1/files", upload_file)
        api.router.add_post("/v1/datasets/uploads", create_upload)
        api.router.add_post("/v1/datasets/uploads/{upload_id}/parts", part)
        api.router.add_post("/v1/datasets/uploads/{upload_id}/complete", complete)
        api.router.add_get("/v1/datasets/uploads/{upload_id}", get_upload)
        api.router.add_get("/v1/datasets/{dataset_id}", get_dataset)
        api.router.add_get("/v1/files/{file_id}/content", content)
        runner = web.AppRunner(api, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        Path(port_file).write_text(str(runner.addresses[0][1]))  # noqa: ASYNC240 (once)
        await asyncio.Event().wait()

    storage_origin = ""
    asyncio.run(main())


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _client(mode: str, base_url: str, path: str, part_size: int, concurrency: int) -> None:
    """One transfer; prints ``{"seconds": ..., "rss_growth": ...}``."""

    async def main() -> float:
        async with AsyncSession("bench-key", base_url=base_url, timeout=600) as session:
            before = _rss_bytes()
            start_usage = resource.getrusage(resource.RUSAGE_SELF)
            cpu_before = start_usage.ru_utime + start_usage.ru_stime
            started = time.perf_counter()
            if mode == "upload_file":
                await session.upload_file(path)
            elif mode == "upload_dataset":
                await session.upload_dataset(
                    path,
                    name="bench",
                    schema=[{"name": "text", "type": {"name": "string"}}],
                    folder="/bench",
                    part_size=part_size,
                    concurrency=concurrency,
                    check=False,
                    poll_interval=0.01,
                )
            else:
                extra = {"bytes": os.environ["BENCH_DOWNLOAD_BYTES"]}
                if mode == "direct":
                    extra["direct"] = "1"
                await session.download_file("file-1", path, extra_query=extra)
            seconds = time.perf_counter() - started
            used = resource.getrusage(resource.RUSAGE_SELF)
            peak = used.ru_maxrss * 1024
            cpu = used.ru_utime + used.ru_stime - cpu_before
            print(json.dumps({"seconds": seconds, "cpu": cpu, "rss_growth": max(0, peak - before)}))
            return seconds

    asyncio.run(main())


def _measure(mode: str, base_url: str, path: str, options: argparse.Namespace) -> dict[str, float]:
    command = [sys.executable, __file__, "--client", mode, base_url, path]
    command += ["--part-size", str(options.part_size), "--concurrency", str(options.concurrency)]
    environment = {**os.environ, "BENCH_DOWNLOAD_BYTES": str(options.download_mib * _CHUNK)}
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=1800, env=environment
    )
    return json.loads(done.stdout)


def _instructions(mode: str, base_url: str, path: str, mib: int) -> int:
    """User-space instructions of one client process (callgrind), downloading ``mib``."""
    command = [sys.executable, __file__, "--client", mode, base_url, path]
    return instructions(command, {**os.environ, "BENCH_DOWNLOAD_BYTES": str(mib * _CHUNK)})


def _instruction_report(base_url: str, target: str, options: argparse.Namespace) -> None:
    """The redirect's cost in instructions: what following it adds to a download of ``N``
    MiB (redirect minus direct), against what streaming costs per MiB (``2N`` minus ``N``),
    and the ratio of throughputs at ``--download-mib`` that these imply."""
    n = options.instructions_mib
    extra, per_mib = [], []
    for _ in range(options.runs):
        direct_n = _instructions("direct", base_url, target, n)
        redirect_n = _instructions("redirect", base_url, target, n)
        direct_2n = _instructions("direct", base_url, target, 2 * n)
        extra.append(redirect_n - direct_n)
        per_mib.append((direct_2n - direct_n) / n)
    whole = statistics.median(per_mib) * options.download_mib
    ratios = [whole / (whole + cost) for cost in extra]
    print(f"| what (callgrind, user-space instructions; {options.runs} runs) | min / median |")
    print("|---|---|")
    print(
        f"| following the redirect: extra instructions | {min(extra):,} / "
        f"{statistics.median(extra):,.0f} |"
    )
    print(
        f"| streaming: instructions per MiB | {min(per_mib):,.0f} / "
        f"{statistics.median(per_mib):,.0f} |"
    )
    print(
        f"| implied throughput through the redirect / direct at {options.download_mib} MiB | "
        f"{_ratio_text(ratios)} |"
    )


def _ratio_text(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run")
    parser.add_argument("--upload-mib", type=int, default=2048)
    parser.add_argument("--download-mib", type=int, default=1024)
    parser.add_argument("--part-size", type=int, default=64 * 1024 * 1024)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--download-runs", type=int, default=7)
    parser.add_argument(
        "--instructions-mib",
        type=int,
        metavar="N",
        help="instead: count the client's instructions (callgrind) for downloads of N and 2N "
        "MiB, direct and through the redirect",
    )
    parser.add_argument("--client", nargs=3, metavar="ARG", help=argparse.SUPPRESS)
    parser.add_argument("--server", metavar="PORT_FILE", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.server:
        _server(options.server)
        return
    if options.client:
        _client(*options.client, options.part_size, options.concurrency)
        return
    if options.quick:
        options.upload_mib, options.download_mib, options.runs = 4, 4, 1
        options.download_runs = 1
        options.part_size = 1024 * 1024
    with tempfile.TemporaryDirectory() as folder:
        port_file = Path(folder) / "port"
        server = subprocess.Popen([sys.executable, __file__, "--server", str(port_file)])
        try:
            while not port_file.exists() or not port_file.read_text():
                time.sleep(0.05)
            base_url = f"http://127.0.0.1:{port_file.read_text()}"
            # Downloads land on tmpfs where there is one: disk writeback would time the disk.
            shm = Path("/dev/shm")
            landing = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(folder)
            target = str(landing / f"nebius-ft-bench-{os.getpid()}.bin")
            if options.instructions_mib:
                try:
                    _instruction_report(base_url, target, options)
                finally:
                    Path(target).unlink(missing_ok=True)
                return
            source = Path(folder) / "upload.bin"
            with source.open("wb") as file:
                for _ in range(options.upload_mib):
                    file.write(os.urandom(_CHUNK))
            up, up_cpu, parts_rss, file_rss = [], [], [], []
            for _ in range(options.runs):
                whole = _measure("upload_file", base_url, str(source), options)
                parts = _measure("upload_dataset", base_url, str(source), options)
                up.append(whole["seconds"] / parts["seconds"])  # throughput of parts / whole
                up_cpu.append(whole["cpu"] / parts["cpu"])
                parts_rss.append(parts["rss_growth"] / 2**20)
                file_rss.append(whole["rss_growth"] / 2**20)
            down, down_cpu = [], []
            try:
                _measure("direct", base_url, target, options)  # warms the page cache up
                for run in range(options.download_runs):
                    pair = ["direct", "redirect"] if run % 2 == 0 else ["redirect", "direct"]
                    seen = {}
                    for mode in pair:
                        Path(target).unlink()  # each download makes its file anew
                        seen[mode] = _measure(mode, base_url, target, options)
                    down.append(seen["direct"]["seconds"] / seen["redirect"]["seconds"])
                    down_cpu.append(seen["direct"]["cpu"] / seen["redirect"]["cpu"])
            finally:
                Path(target).unlink(missing_ok=True)
        finally:
            server.kill()
            server.wait()
    print("| what | runs | min / median |")
    print("|---|---|---|")
    print(
        f"| upload_dataset ({options.upload_mib} MiB, parts of {options.part_size // 2**20} MiB, "
        f"{options.concurrency} at once): throughput / one upload_file | {options.runs} | "
        f"{_ratio_text(up)} |"
    )
    print(
        f"| upload_dataset: client CPU efficiency / upload_file's (bytes per CPU second) | "
        f"{options.runs} | {_ratio_text(up_cpu)} |"
    )
    print(f"| upload_dataset: peak RSS growth, MiB | {options.runs} | {_ratio_text(parts_rss)} |")
    print(f"| upload_file: peak RSS growth, MiB | {options.runs} | {_ratio_text(file_rss)} |")
    print(
        f"| download_file ({options.download_mib} MiB) through a storage redirect: "
        f"throughput / direct | {options.download_runs} | {_ratio_text(down)} |"
    )
    print(
        f"| download_file through a storage redirect: client CPU efficiency / direct | "
        f"{options.download_runs} | {_ratio_text(down_cpu)} |"
    )


if __name__ == "__main__":
    main()
