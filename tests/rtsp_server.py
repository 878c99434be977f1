"""A real RTSP server for the tests: serves an H.264 or H.265 MP4, with its AAC sound where it
has one, at rtsp://127.0.0.1:PORT/x, looping.

Runs under Debian's /usr/bin/python3 (the GStreamer ``gi`` bindings are not in the venv):
    /usr/bin/python3 tests/rtsp_server.py VIDEO.mp4 PORT [h264|h265] [sound]
Prints ``ready rtsp://127.0.0.1:PORT/x`` once listening. The file loops through a SEGMENT seek
on SEGMENT_DONE, so timestamps keep increasing across loops (as from a real camera).
"""

import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def loop_media(_factory, media) -> None:
    """Seek with the SEGMENT flag, so the file's end sends SEGMENT_DONE (seek again), not EOS.

    The media keeps its pipeline's bus to itself (a second watch or sync-message handler never
    sees a message), so the SEGMENT_DONE event is caught on the payloader's pad instead, and the
    seeks run from the main loop, not from the streaming thread.

    No seek flushes: a flush leaves the payloader without a segment for a moment, and a PLAY
    request arriving then aborts the server (``gst_rtsp_media_get_rates: assertion failed``).
    The first seek is made once the media is prepared, from a thread of its own, because it
    waits for the prerolled streaming thread, which moves on only when a client plays.
    """
    element = media.get_element()

    def seek():
        element.seek_simple(Gst.Format.TIME, Gst.SeekFlags.SEGMENT, 0)
        return False

    def on_event(_pad, info):
        if info.get_event().type == Gst.EventType.SEGMENT_DONE:
            GLib.idle_add(seek)
        return Gst.PadProbeReturn.OK

    pad = element.get_by_name("pay0").get_static_pad("sink")
    pad.add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, on_event)
    media.connect("prepared", lambda _media: threading.Thread(target=seek, daemon=True).start())


def main() -> None:
    video, port = sys.argv[1], sys.argv[2]
    codec = sys.argv[3] if len(sys.argv) > 3 else "h264"
    sound = "sound" in sys.argv[4:]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    picture = f"{codec}parse config-interval=-1 ! rtp{codec}pay name=pay0 pt=96"
    if sound:  # each of the demuxer's branches needs a queue of its own, or they wait on each other
        streams = f"qtdemux name=d d.video_0 ! queue ! {picture} "
        streams += "d.audio_0 ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97"
    else:  # no queue: with one, a client reconnecting saw a frame skipped (not looked into)
        streams = f"qtdemux ! {picture}"
    factory.set_launch(f"( filesrc location={video} ! {streams} )")
    factory.set_shared(True)
    factory.connect("media-configure", loop_media)
    server.get_mount_points().add_factory("/x", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    print(f"ready rtsp://127.0.0.1:{port}/x", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
