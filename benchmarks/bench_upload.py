"""Upload benchmark: stream one large input file to the file service, against a plain ``requests`` upload.

    python benchmarks/bench_upload.py                 # 90 MiB (just under the service's 100 MB limit)
    python benchmarks/bench_upload.py --mib 32 --report-only   # smaller

The emulator runs as its own process and receives the uploads (``POST /api/v1/files/upload/stream``).
Each upload runs in a fresh child process, so its peak RSS (``ru_maxrss``) growth over the interpreter's
baseline is its own: the baseline streams the file with ``requests`` and a generator body (chunked, 1 MiB
reads, nothing else); the provider path is ``resolve_inputs`` in upload mode (checksum pass for reuse,
type and size checks, the ``Content-Length`` multipart stream). Targets: RSS growth of the provider's
upload < 50 MB; throughput >= 70 % of the baseline's (the checksum pass reads the file once more).
Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHUNK = 1024 * 1024
API_KEY = "sk-bench"

CHILD = r"""
import json, logging, os, resource, sys, time
sys.path.insert(0, {repo!r})
mode, base, path = sys.argv[1:4]
import requests
from airflow_evolink.inputs.paths import find_storage_inputs
from airflow_evolink.inputs.resolve import InputLedger, resolve_inputs
from airflow_evolink.hooks.files import FileServiceClient
session = requests.Session()
headers = {{"Authorization": "Bearer {key}"}}
requests.get(base + "/api/v1/files/quota", headers=headers, timeout=10)  # connection and imports warm
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
if mode == "baseline":
    def body():
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.mp4\"\r\n"
        yield b"Content-Type: video/mp4\r\n\r\n"
        with open(path, "rb") as handle:
            while chunk := handle.read({chunk}):
                yield chunk
        yield b"\r\n--b--\r\n"
    answer = session.post(base + "/api/v1/files/upload/stream", data=body(), timeout=(10, 300),
                          headers={{**headers, "Content-Type": "multipart/form-data; boundary=b"}})
    answer.raise_for_status()
else:
    client = FileServiceClient(session, base, "{key}")
    refs = find_storage_inputs({{"video_urls": ["file://" + path]}})
    resolve_inputs(refs, mode="upload", client=lambda: client, ledger=InputLedger(),
                   log=logging.getLogger("bench"))
seconds = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": seconds, "rss_growth_mb": (after - before) / 1024}}))
"""


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_evolink.emulator", "--port", "0", "--job-seconds", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert process.stdout is not None
    match = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
    if not match:
        process.kill()
        raise SystemExit("the emulator did not start")
    return process, match.group(0)


def measure(mode: str, base: str, path: Path) -> dict[str, float]:
    code = CHILD.format(repo=str(REPO), key=API_KEY, chunk=CHUNK)
    out = subprocess.run(
        [sys.executable, "-c", code, mode, base, str(path)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"the {mode} upload failed:\n{out.stderr[-2000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def clear_files(base: str) -> None:
    import requests

    headers = {"Authorization": f"Bearer {API_KEY}"}
    listing = requests.get(f"{base}/api/v1/files/list?pageSize=100", headers=headers, timeout=10).json()
    for item in listing["data"]["files"]:
        requests.delete(f"{base}/api/v1/files/{item['file_id']}", headers=headers, timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=90, help="file size in MiB (default 90; at most 100)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of each; best is kept")
    parser.add_argument(
        "--report-only", action="store_true", help="print the figures, do not fail on a target"
    )
    args = parser.parse_args(argv)
    size = args.mib * CHUNK
    emulator, base = start_emulator()
    try:
        with tempfile.TemporaryDirectory(prefix="evolink-bench-upload-") as scratch:
            path = Path(scratch) / "input.mp4"
            with open(path, "wb") as out:  # an MP4 signature, then varied bytes
                out.write(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 12)
                block = os.urandom(CHUNK)
                while out.tell() < size:
                    out.write(block[: size - out.tell()])
            baseline, ours = [], []
            for _ in range(args.rounds):
                baseline.append(measure("baseline", base, path))
                ours.append(measure("provider", base, path))
                clear_files(base)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    base_mbps = size / 1e6 / min(r["seconds"] for r in baseline)
    ours_mbps = size / 1e6 / min(r["seconds"] for r in ours)
    base_growth = max(r["rss_growth_mb"] for r in baseline)
    ours_growth = max(r["rss_growth_mb"] for r in ours)
    ratio = ours_mbps / base_mbps
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"upload of {args.mib} MiB to the emulator's file service, best of {args.rounds} rounds each")
    print(f"{'path':<46}{'MB/s':>10}{'peak RSS growth MB':>20}")
    print(f"{'baseline: plain requests streaming upload':<46}{base_mbps:>10.0f}{base_growth:>20.1f}")
    print(f"{'resolve_inputs (upload mode)':<46}{ours_mbps:>10.0f}{ours_growth:>20.1f}")
    print(f"throughput ratio vs baseline: {ratio:.2f} (target >= 0.70)")
    print(f"peak RSS growth: {ours_growth:.1f} MB for a {size / 1e6:.0f} MB file (target < 50 MB)")
    missed = [name for name, ok in (("throughput", ratio >= 0.7), ("memory", ours_growth < 50)) if not ok]
    if missed:
        print(f"TARGET MISSED: {', '.join(missed)}")
        return 0 if args.report_only else 1
    print("targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
