"""LLM client benchmarks, each a ratio measured in one run on this machine.

- throughput: 320 chat requests through `wpqa.llm.run_requests` (the real openai SDK) to the
  loopback OpenAI-compatible server (tests/openai_server.py, in its own process) answering
  each after 200 ms, at concurrency 16. The ideal is 16 / 0.2 s = 80 requests/s; the ratio
  is measured throughput over that ideal (aim >= 0.8).
- the same requests through a bare async HTTP client (the httpx the SDK is built on: no
  SDK, no cache, no limits) at the same concurrency, as the bound for this machine's load.
- cache: the same 320 requests again through a fresh client on the same SQLite cache
  (zero requests sent) against the first run (aim >= 100x faster).

Run: `python benchmarks/bench_llm.py` from the project root.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wpqa.llm import ChatRequest, LLMClient, LLMConfig, RequestCache, chat, run_requests  # noqa: E402

LATENCY = 0.2
CONCURRENCY = 16
N = 320


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _bare(base_url: str, requests: list[ChatRequest]) -> float:
    """Seconds for the requests posted by a bare httpx client, 16 at a time."""
    import asyncio

    try:
        import httpx2 as httpx
    except ImportError:
        import httpx
    async with httpx.AsyncClient(timeout=30) as http:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(r: ChatRequest) -> None:
            async with gate:
                reply = await http.post(base_url + "/chat/completions", json={
                    "model": "bench-model", "messages": list(r.messages), "max_tokens": r.max_tokens})
                reply.json()

        await asyncio.gather(*(one(r) for r in requests[:CONCURRENCY]))  # warm-up
        start = time.perf_counter()
        await asyncio.gather(*(one(r) for r in requests))
        return time.perf_counter() - start


def main() -> None:
    server = subprocess.Popen([sys.executable, "-m", "tests.openai_server", "--latency", str(LATENCY)],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        base_url = server.stdout.readline().strip()
        config = LLMConfig(base_url=base_url, model="bench-model", concurrency=CONCURRENCY,
                           timeout_s=30)
        # Section-sized prompts: ~1,500 characters each, all different.
        requests = [ChatRequest(messages=chat("You write training data.", f"Section {i}: " + "text " * 300),
                                temperature=0.2, seed=42, max_tokens=600) for i in range(N)]
        with tempfile.TemporaryDirectory(prefix="wpqa-bench-llm-") as tmp:
            cache = Path(tmp) / "requests.sqlite"
            # warm-up: imports, the connection pool, the server's threads
            run_requests(LLMClient(config, RequestCache(Path(tmp) / "warm.sqlite")),
                         requests[:CONCURRENCY])
            client = LLMClient(config, RequestCache(cache))
            server_cpu_start = _cpu_seconds(server.pid)
            cpu_start = time.process_time()
            start = time.perf_counter()
            first = run_requests(client, requests)
            first_s = time.perf_counter() - start
            cpu_s = time.process_time() - cpu_start
            assert all(r.ok for r in first), [r.detail for r in first if not r.ok][:3]
            server_cpu_s = _cpu_seconds(server.pid) - server_cpu_start

            again_client = LLMClient(config, RequestCache(cache))
            start = time.perf_counter()
            again = run_requests(again_client, requests)
            cached_s = time.perf_counter() - start
            assert again_client.stats.sent == 0 and all(r.cached for r in again)
            import asyncio
            bare_s = asyncio.run(_bare(base_url, requests))
    finally:
        server.terminate()
        server.wait()
    ideal = CONCURRENCY / LATENCY
    rate = N / first_s
    print(f"throughput: {N} requests in {first_s:.2f} s = {rate:.1f} req/s; ideal {ideal:.0f} req/s "
          f"(concurrency {CONCURRENCY}, {LATENCY * 1000:.0f} ms server latency): "
          f"ratio {rate / ideal:.2f} (aim >= 0.8); {client.stats.retries} retries; CPU: client "
          f"{cpu_s:.2f} s ({cpu_s / N * 1000:.1f} ms/request), server {server_cpu_s:.2f} s; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"bare httpx client, same requests: {N / bare_s:.1f} req/s, ratio {N / bare_s / ideal:.2f} "
          f"of ideal; wpqa.llm reaches {bare_s / first_s:.2f} of the bare client")
    print(f"cache: fully cached re-run {cached_s * 1000:.1f} ms vs first run {first_s:.2f} s: "
          f"{first_s / cached_s:.0f}x faster, 0 requests sent (aim >= 100x)")


if __name__ == "__main__":
    main()
