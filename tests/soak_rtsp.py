"""Live soak benchmark: ``platestream run`` on a looping RTSP stream from the real test server.

Reports what a live deployment cares about and a timed test cannot assert on a shared machine:
dropped frames, how long after a plate was last seen its event is written, and whether the
process's memory stays flat over a long run. Not collected by pytest; run it from the venv:

    python tests/soak_rtsp.py sample_videos/mixed_traffic.mp4 --seconds 120
    python tests/soak_rtsp.py sample_videos/eu_street.mp4 --seconds 600 --json soak.json

It needs the GStreamer RTSP server (see tests/test_rtsp.py).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from streamer.host import this_host

sys.path.insert(0, str(Path(__file__).parent))
from conftest import platestream_command  # noqa: E402
from test_rtsp import RtspServer, gst_rtsp_missing  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def follow_events(path: Path, stop: threading.Event, arrivals: list) -> None:
    """Record each event with the wall-clock time its line appeared in the file."""
    while not path.exists():
        if stop.is_set():
            return  # the run ended before writing anything
        time.sleep(0.05)
    with open(path, encoding="utf-8") as f:
        buffer = ""
        while True:
            chunk = f.readline()
            if chunk:
                buffer += chunk
                if buffer.endswith("\n"):
                    arrivals.append((time.time(), json.loads(buffer)))
                    buffer = ""
            elif stop.is_set():
                return
            else:
                time.sleep(0.02)


def soak(video: Path, seconds: float, sample_every: float) -> dict:
    server = RtspServer(video).start()
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp) / "events.jsonl"
        proc = subprocess.Popen(
            # --quiet: no progress lines, so an hours-long soak never fills the stderr pipe
            platestream_command("run", server.url, "--events", events, "--quiet"),
            stderr=subprocess.PIPE,
            text=True,
        )
        stop, arrivals = threading.Event(), []
        follower = threading.Thread(target=follow_events, args=(events, stop, arrivals))
        follower.start()
        rss, start = [], time.time()
        try:
            while time.time() - start < seconds and proc.poll() is None:
                rss.append((round(time.time() - start), round(rss_mb(proc.pid), 1)))
                time.sleep(sample_every)
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
            server.kill()
            stop.set()
            follower.join()
    summary = [line for line in stderr.splitlines() if " frames in " in line]
    plates = [(t, e) for t, e in arrivals if e["type"] == "plate"]
    delays = [t - datetime.fromisoformat(e["last_wallclock"]).timestamp() for t, e in plates]
    return {
        "host": this_host(),
        "video": str(video),
        "seconds": seconds,
        "summary": summary[-1] if summary else stderr[-500:],
        "plates": len(plates),
        "texts": sorted({e["text"] for _, e in plates}),
        "event_delay_s": {
            "median": round(float(np.median(delays)), 3) if delays else None,
            "max": round(float(np.max(delays)), 3) if delays else None,
        },
        # the first sample is taken before the models are loaded
        "rss_mb": {"first": rss[1][1] if len(rss) > 1 else None, "last": rss[-1][1]},
        "rss_samples": rss,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("video", type=Path)
    p.add_argument("--seconds", type=float, default=120)
    p.add_argument("--sample-every", type=float, default=10, help="seconds between RSS samples")
    p.add_argument("--json", type=Path, help="also write the result here")
    args = p.parse_args()
    reason = gst_rtsp_missing()
    if reason:
        sys.exit(f"cannot soak: {reason}")
    result = soak(args.video.resolve(), args.seconds, args.sample_every)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(json.dumps({k: v for k, v in result.items() if k != "rss_samples"}, ensure_ascii=False))
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
