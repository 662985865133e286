"""Download benchmark: stream one large result video to a local path, against a plain ``requests`` copy.

    python benchmarks/bench_download.py                 # 1 GiB (the target size)
    python benchmarks/bench_download.py --mib 128 --report-only   # smaller, for CI

The emulator runs as its own process and serves the file. In this process, the baseline streams the
same URL to a file with ``requests`` (1 MiB chunks, nothing else), and the provider's
``download_videos`` writes it through ``ObjectStoragePath`` with its temporary name, size check and
default checksum (CRC-32C). Targets, on that default: RSS growth during the provider's download
< 50 MB; throughput >= 80 % of the baseline's. The same download with ``checksum="sha256"`` is
printed beside it, for information. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

CHUNK = 1024 * 1024


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


class PeakRss:
    """Samples this process' RSS every 10 ms while a block runs; ``growth`` is peak minus start."""

    def __enter__(self) -> PeakRss:
        self.start = self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())

    @property
    def growth(self) -> float:
        return self.peak - self.start


def start_emulator(size: int) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_evolink.emulator",
            "--port",
            "0",
            "--job-seconds",
            "0",
            "--result-bytes",
            str(size),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    match = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
    if not match:
        process.kill()
        raise SystemExit("the emulator did not start")
    return process, match.group(0)


def result_url(base: str) -> str:
    headers = {"Authorization": "Bearer sk-bench"}
    body = {"model": "kling-v3-image-to-video", "prompt": "bench", "image_start": "https://example.com/a.png"}
    task = requests.post(f"{base}/v1/videos/generations", json=body, headers=headers, timeout=10).json()
    for _ in range(100):
        done = requests.get(f"{base}/v1/tasks/{task['id']}", headers=headers, timeout=10).json()
        if done["status"] == "completed":
            return str(done["results"][0])
        time.sleep(0.05)
    raise SystemExit("the emulator job did not complete")


def plain_copy(url: str, path: Path) -> None:
    with requests.get(url, stream=True, timeout=(10, 120)) as response, open(path, "wb") as out:
        response.raise_for_status()
        for chunk in response.iter_content(CHUNK):
            out.write(chunk)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=1024, help="file size in MiB (default 1024)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of each; best is kept")
    parser.add_argument(
        "--report-only", action="store_true", help="print the figures, do not fail on a target"
    )
    args = parser.parse_args(argv)
    size = args.mib * 1024 * 1024

    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="evolink-bench-home-"))
    from airflow.sdk import ObjectStoragePath  # imports before timing

    from airflow_evolink.storage.download import download_videos

    emulator, base = start_emulator(size)
    try:
        url = result_url(base)
        with tempfile.TemporaryDirectory(prefix="evolink-bench-") as scratch:
            folder = Path(scratch)
            baseline_s, provider_s, sha256_s, growth = [], [], [], []
            for round_ in range(args.rounds):
                plain = folder / f"plain-{round_}.mp4"
                started = time.perf_counter()
                plain_copy(url, plain)
                baseline_s.append(time.perf_counter() - started)
                plain.unlink()
                for checksum, seconds in (("crc32c", provider_s), ("sha256", sha256_s)):
                    target = ObjectStoragePath(f"file://{folder}/provider-{checksum}-{round_}")
                    with PeakRss() as rss:
                        started = time.perf_counter()
                        [video] = download_videos([url], target, task_id="bench", checksum=checksum)
                        seconds.append(time.perf_counter() - started)
                    growth.append(rss.growth)
                    assert video.size == size and video.checksum, video
                    Path(video.path.removeprefix("file://")).unlink()
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)

    base_mbps = size / 1e6 / min(baseline_s)
    ours_mbps = size / 1e6 / min(provider_s)
    ratio = ours_mbps / base_mbps
    sha256_mbps = size / 1e6 / min(sha256_s)
    worst_growth = max(growth)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"download of {args.mib} MiB, best of {args.rounds} rounds each")
    print(f"{'path':<40}{'MB/s':>10}{'RSS growth MB':>16}")
    print(f"{'baseline: plain requests streaming copy':<40}{base_mbps:>10.0f}{'-':>16}")
    print(f"{'download_videos, crc32c (default)':<40}{ours_mbps:>10.0f}{worst_growth:>16.1f}")
    print(f"{'download_videos, checksum=sha256':<40}{sha256_mbps:>10.0f}{'-':>16}")
    print(
        f"throughput ratio vs baseline: {ratio:.2f} (target >= 0.80); with sha256: {sha256_mbps / base_mbps:.2f}"
    )
    print(f"RSS growth: {worst_growth:.1f} MB (target < 50 MB)")
    missed = [name for name, ok in (("throughput", ratio >= 0.8), ("memory", worst_growth < 50)) if not ok]
    if missed:
        print(f"TARGET MISSED: {', '.join(missed)}")
        return 0 if args.report_only else 1
    print("targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
