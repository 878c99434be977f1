"""Known plates: the list file, look-alike matching, and the events a run writes for them."""

from __future__ import annotations

from conftest import SAMPLES, read_events, run_cli

from streamer.watchlist import Entry, Watchlist, confusions

LIST = """# the gate's regulars
KUW-8332  white van
YUY4A9B\tcourier      # 8 written B: a look-alike of the sample's YUY4A98

ZZ999ZZ
"""


def test_the_list_file_gives_plates_and_labels(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text(LIST, encoding="utf-8")
    assert Watchlist.load(path).entries == [
        Entry("KUW8332", "white van"),
        Entry("YUY4A9B", "courier"),
        Entry("ZZ999ZZ", ""),
    ]


def test_only_look_alike_characters_may_differ():
    assert confusions("AB123CD", "AB123CD") == 0
    assert confusions("A8123C0", "AB123CD") == 2
    assert confusions("AB123CE", "AB123CD") is None  # E is not drawn like D
    assert confusions("AB123C", "AB123CD") is None
    watchlist = Watchlist([Entry("AB123CD", "x"), Entry("XY987ZZ", "y")])
    assert watchlist.match("AB-123-CD").exact
    near = watchlist.match("AB123C0")
    assert near.entry.plate == "AB123CD" and not near.exact
    assert watchlist.match("A8123C0") is None  # two look-alikes: too far
    assert watchlist.match("AB123CE") is None


def test_a_run_writes_a_watchlist_event_after_each_known_plate(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text(LIST, encoding="utf-8")
    events_path = tmp_path / "events.jsonl"
    proc = run_cli(
        "run", SAMPLES / "mixed_traffic.mp4", "--events", events_path, "--watchlist", path
    )
    assert proc.returncode == 0, proc.stderr
    events = read_events(events_path)
    sightings = [(i, e) for i, e in enumerate(events) if e["type"] == "watchlist"]
    assert {e["plate"]: (e["label"], e["exact"]) for _, e in sightings} == {
        "KUW8332": ("white van", True),
        "YUY4A9B": ("courier", False),
    }
    for i, sighting in sightings:
        plate = events[i - 1]
        assert plate["type"] == "plate" and plate["track_id"] == sighting["track_id"]
        assert plate["text"] == sighting["text"]
    assert "watchlist: YUY4A9B (courier) read as YUY4A98" in proc.stderr
