"""Upload from S3 benchmark: one input frame in moto's S3 server, uploaded to the emulator's file service
through the provider, against a plain ``s3fs`` read streamed into a ``requests`` multipart POST.

    python benchmarks/bench_objectstore_upload.py              # a 40 MiB frame (under the 100 MB limit)
    python benchmarks/bench_objectstore_upload.py --quick      # 8 MiB, one round (run_all.py --quick)

moto's server and the emulator run as their own processes on 127.0.0.1. Each upload runs in a fresh
child process, warmed up first (imports, connections), and its peak RSS over its RSS before the upload
is sampled every 5 ms on a thread (``ru_maxrss`` would hide growth below an import-time peak):

- baseline: ``s3fs.S3FileSystem(...).open(key, "rb")`` with s3fs's defaults, read 1 MiB at a time into a
  generator body of one ``requests`` POST to ``/api/v1/files/upload/stream`` (what a DAG author would
  write by hand); s3fs's default read-ahead (a 50 MiB block) holds up to 50 MiB of the object;
- flat baseline: the same with ``block_size=1 MiB, cache_type="none"`` (one ranged GET per read): what
  a flat-memory copy costs;
- provider: ``resolve_inputs`` in upload mode on ``s3://<conn>@bucket/key``, through Airflow's
  ObjectStoragePath and an ``aws`` connection (existence, size and type checks, the checksum look-up
  for reuse, the multipart stream, the upload id).

Figures only: the throughput and peak-memory ratios against the baseline are printed, nothing is
asserted (the other helpers' work on the input path moves them; a figure is what a reviewer compares).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _objectstores import start_moto
from bench_upload import start_emulator

REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
API_KEY = "sk-bench"
CONN_ID = "bench_s3"
MODES = ("baseline", "flat", "provider")
LABELS = {
    "baseline": "baseline: s3fs open (defaults) + requests streaming POST",
    "flat": "baseline, no read-ahead: s3fs open(cache_type='none')",
    "provider": "provider: resolve_inputs, upload mode",
}
BUCKET = "bench-frames"
KEY = "frames/first.png"
ACCESS_KEY, SECRET_KEY, REGION = "bench-access", "bench-secret", "us-east-1"

CHILD = r"""
import json, logging, os, sys, threading, time
sys.path.insert(0, {repo!r})
import psutil
mode, base, endpoint = sys.argv[1:4]
import requests
session = requests.Session()
headers = {{"Authorization": "Bearer {key}"}}
requests.get(base + "/api/v1/files/quota", headers=headers, timeout=10)  # connection warm
if mode in ("baseline", "flat"):
    import s3fs
    fs = s3fs.S3FileSystem(key={access!r}, secret={secret!r}, client_kwargs={{"endpoint_url": endpoint,
                           "region_name": {region!r}}})
    fs.info({bucket!r} + "/" + {obj!r})  # imports and the S3 connection warm, as for the provider
else:
    from airflow.sdk import ObjectStoragePath
    from airflow_evolink.hooks.files import FileServiceClient
    from airflow_evolink.inputs.paths import find_storage_inputs
    from airflow_evolink.inputs.resolve import InputLedger, resolve_inputs
    url = "s3://{conn}@{bucket}/{obj}"
    ObjectStoragePath(url).stat()  # imports and the S3 connection warm
# Peak RSS over the RSS now, sampled (ru_maxrss would hide growth below an earlier import-time peak).
process = psutil.Process()
before = peak = process.memory_info().rss
done = threading.Event()
def sample():
    global peak
    while not done.wait(0.005):
        peak = max(peak, process.memory_info().rss)
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
started = time.perf_counter()
if mode in ("baseline", "flat"):
    # "flat": the same, with no read-ahead (each 1 MiB read one ranged GET), to show what flat costs.
    options = {{"block_size": {mib}, "cache_type": "none"}} if mode == "flat" else {{}}
    def body():
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"first.png\"\r\n"
        yield b"Content-Type: image/png\r\n\r\n"
        with fs.open({bucket!r} + "/" + {obj!r}, "rb", **options) as handle:
            while chunk := handle.read({mib}):
                yield chunk
        yield b"\r\n--b--\r\n"
    answer = session.post(base + "/api/v1/files/upload/stream", data=body(), timeout=(10, 300),
                          headers={{**headers, "Content-Type": "multipart/form-data; boundary=b"}})
    answer.raise_for_status()
    assert answer.json().get("success", True) is not False, answer.text
else:
    client = FileServiceClient(session, base, "{key}")
    refs = find_storage_inputs({{"image_start": url}})
    resolve_inputs(refs, mode="upload", client=lambda: client, ledger=InputLedger(),
                   log=logging.getLogger("bench"))
seconds = time.perf_counter() - started
done.set()
sampler.join()
peak = max(peak, process.memory_info().rss)
print(json.dumps({{"seconds": seconds, "rss_growth_mb": (peak - before) / 2**20}}))
"""


def put_frame(endpoint: str, size: int) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )
    s3.create_bucket(Bucket=BUCKET)
    head = b"\x89PNG\r\n\x1a\n"
    block = os.urandom(MIB)
    body = head + (block * (size // MIB + 1))[: size - len(head)]
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)


def child_env(home: str, endpoint: str) -> dict[str, str]:
    connection = {
        "conn_type": "aws",
        "login": ACCESS_KEY,
        "password": SECRET_KEY,
        "extra": {"endpoint_url": endpoint, "region_name": REGION},
    }
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(connection),
    }


def measure(mode: str, base: str, endpoint: str, env: dict[str, str]) -> dict[str, float]:
    code = CHILD.format(
        repo=str(REPO),
        key=API_KEY,
        mib=MIB,
        access=ACCESS_KEY,
        secret=SECRET_KEY,
        region=REGION,
        bucket=BUCKET,
        obj=KEY,
        conn=CONN_ID,
    )
    out = subprocess.run(
        [sys.executable, "-c", code, mode, base, endpoint],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if out.returncode != 0:
        raise SystemExit(f"the {mode} upload failed:\n{out.stderr[-3000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def uploads_held(base: str) -> int:
    import requests

    headers = {"Authorization": f"Bearer {API_KEY}"}
    listing = requests.get(f"{base}/api/v1/files/list?pageSize=100", headers=headers, timeout=10).json()
    files = listing["data"]["files"]
    for item in files:
        requests.delete(f"{base}/api/v1/files/{item['file_id']}", headers=headers, timeout=10)
    return len(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=40, help="frame size in MiB (default 40; under 100)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of each; best is kept")
    parser.add_argument("--quick", action="store_true", help="8 MiB, one round (for run_all.py --quick)")
    args = parser.parse_args(argv)
    if args.quick:
        args.mib, args.rounds = 8, 1
    size = args.mib * MIB
    started = time.monotonic()
    moto, endpoint = start_moto()
    emulator, base = start_emulator()
    try:
        with tempfile.TemporaryDirectory(prefix="evolink-bench-s3-upload-") as home:
            put_frame(endpoint, size)
            env = child_env(home, endpoint)
            results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
            for n in range(args.rounds):  # ABC CBA ...: drift hits all alike
                for mode in MODES if n % 2 == 0 else MODES[::-1]:
                    results[mode].append(measure(mode, base, endpoint, env))
                    if uploads_held(base) != 1:
                        raise SystemExit(f"the {mode} run did not leave exactly one stored file")
    finally:
        for process in (emulator, moto):
            process.terminate()
            process.wait(timeout=10)
    mbps = {mode: size / 1e6 / min(r["seconds"] for r in results[mode]) for mode in MODES}
    growth = {mode: max(r["rss_growth_mb"] for r in results[mode]) for mode in MODES}
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(
        f"a {args.mib} MiB frame in moto S3 uploaded to the emulator's file service, "
        f"best of {args.rounds} round(s) each"
    )
    print(f"{'path':<60}{'MB/s':>8}{'peak RSS growth MB':>20}")
    for mode in MODES:
        print(f"{LABELS[mode]:<60}{mbps[mode]:>8.0f}{growth[mode]:>20.1f}")
    for reference in ("baseline", "flat"):
        speed = mbps["provider"] / mbps[reference]
        memory = growth["provider"] / growth[reference] if growth[reference] > 0 else float("inf")
        print(f"provider / {reference}: throughput {speed:.2f}x, peak RSS growth {memory:.2f}x")
    print(f"{time.monotonic() - started:.1f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
