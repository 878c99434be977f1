"""The webhook: every event POSTed to a real HTTP server, in order, through its outages."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time

from conftest import SAMPLES, read_events, run_cli

from streamer.sinks import WebhookPoster


class Receiver:
    """A local HTTP server that keeps the JSON bodies POSTed to it; ``refuse`` answers 400 to
    events whose text it names."""

    def __init__(self, port: int = 0, refuse: str | None = None):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if refuse is not None and event.get("text") == refuse:
                    self.send_response(400)
                else:
                    received.append(event)
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/plates"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_posts_the_same_events_it_writes(tmp_path):
    receiver = Receiver()
    try:
        events = tmp_path / "events.jsonl"
        proc = run_cli(
            "run", SAMPLES / "mixed_traffic.mp4", "--events", events, "--webhook", receiver.url
        )
    finally:
        receiver.stop()
    assert proc.returncode == 0, proc.stderr
    written = read_events(events)
    assert len(written) >= 5
    assert receiver.received == written
    assert f"webhook {receiver.url}: {len(written)} events posted" in proc.stderr


def test_events_wait_for_a_receiver_that_comes_up_late():
    port = free_port()
    poster = WebhookPoster(f"http://127.0.0.1:{port}/plates", backoff=(0.05, 0.2))
    for i in range(3):
        poster.write({"type": "plate", "text": f"AB{i}"})
    time.sleep(0.5)  # the first posts fail: nothing listens yet
    assert poster.posted == 0 and poster.undelivered == 3
    receiver = Receiver(port)
    try:
        poster.write({"type": "plate", "text": "AB3"})
        poster.close()
    finally:
        receiver.stop()
    assert [e["text"] for e in receiver.received] == ["AB0", "AB1", "AB2", "AB3"]
    assert poster.posted == 4 and poster.undelivered == 0


def test_a_refused_event_is_not_retried_and_holds_up_nothing():
    receiver = Receiver(refuse="BAD")
    poster = WebhookPoster(receiver.url, backoff=(0.05, 0.2))
    try:
        for text in ("A1", "BAD", "A2"):
            poster.write({"type": "plate", "text": text})
        poster.close()
    finally:
        receiver.stop()
    assert [e["text"] for e in receiver.received] == ["A1", "A2"]
    assert (poster.posted, poster.refused, poster.undelivered) == (2, 1, 0)


def test_closing_gives_up_on_an_absent_receiver_after_its_drain_time():
    poster = WebhookPoster(
        f"http://127.0.0.1:{free_port()}/x", backoff=(0.05, 0.2), drain_seconds=0.5
    )
    poster.write({"type": "plate", "text": "A1"})
    start = time.monotonic()
    poster.close()
    assert time.monotonic() - start < 3
    assert poster.posted == 0 and poster.undelivered == 1


def test_a_full_queue_drops_its_oldest_events_and_counts_them():
    poster = WebhookPoster(
        f"http://127.0.0.1:{free_port()}/x", max_queued=2, backoff=(5, 5), drain_seconds=0
    )
    for i in range(5):
        poster.write({"text": str(i)})
    poster.close()
    assert poster.dropped >= 2 and poster.undelivered == 5
