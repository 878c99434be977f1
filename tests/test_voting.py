"""Read scheduling and per-character voting, on hand-made readings over a small charset."""

import re

import numpy as np
import pytest

from streamer.config import VotingConfig
from streamer.detector import Detection
from streamer.recognizer import Reading, reading_from_probs
from streamer.voting import Read, ReadScheduler, TrackText, frontality, fuse_reads

CHARSET = ("<pad>", "A", "B", "C", "1", "2", "3")
MAX_LEN = 8


def reading(text: str, char_conf: float = 0.9, end_conf: float = 0.95) -> Reading:
    """A recognizer output reading ``text``: each character at ``char_conf``, the rest spread."""
    probs = np.zeros((MAX_LEN, len(CHARSET)), np.float32)
    for pos in range(MAX_LEN):
        if pos < len(text):
            cls, p = CHARSET.index(text[pos]), char_conf
        else:
            cls, p = 0, (end_conf if pos == len(text) else 1.0)
        probs[pos] = (1 - p) / (len(CHARSET) - 1)
        probs[pos, cls] = p
    return reading_from_probs(probs, CHARSET)


def detection(width: float = 100.0, score: float = 0.9, skew: float = 0.0) -> Detection:
    """A plate ``width`` wide at (10, 10); ``skew`` shortens its right edge (perspective)."""
    x1, y1, x2, y2 = 10.0, 10.0, 10.0 + width, 10.0 + width / 4
    corners = np.array([[x1, y1], [x2, y1 + skew], [x2, y2 - skew], [x1, y2]], np.float32)
    return Detection(np.array([x1, y1, x2, y2], np.float32), corners, score)


@pytest.fixture(scope="module")
def crop():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (48, 192, 3), dtype=np.uint8)


# -- fusion --------------------------------------------------------------------------------


def test_reading_helper_matches_the_recognizer_decoding():
    r = reading("AB12", char_conf=0.9, end_conf=0.95)
    assert r.text == "AB12"
    assert r.confidence == pytest.approx(0.9**4 * 0.95, rel=1e-5)
    assert r.char_confidences == pytest.approx([0.9] * 4)


def test_one_bad_read_is_outvoted():
    reads = [reading("AB123C")] * 3 + [reading("AB122C", char_conf=0.95)]
    text, confidence, char_conf = fuse_reads(reads)
    assert text == "AB123C"
    assert len(char_conf) == 6
    # the disputed position is less certain than the agreed ones
    assert char_conf[4] < min(char_conf[:4])
    assert 0 < confidence < 1


def test_wrong_length_read_does_not_shift_the_others():
    # a read that missed a character: position by position it disagrees everywhere after "AB"
    reads = [reading("AB123C"), reading("AB123C", 0.8), reading("AB23C", 0.9)]
    text, confidence, _ = fuse_reads(reads)
    assert text == "AB123C"
    # the length share (votes of the winning length) lowers the fused confidence
    alone, conf_alone, _ = fuse_reads(reads[:2])
    assert alone == text and confidence < conf_alone


def test_length_vote_is_weighted_by_confidence():
    confident = [reading("AB12", 0.95)] * 2
    doubtful = [reading("AB123", 0.35)] * 3
    assert fuse_reads(confident + doubtful)[0] == "AB12"
    assert fuse_reads([reading("AB12", 0.35)] * 2 + [reading("AB123", 0.95)] * 3)[0] == "AB123"


def test_characters_are_weighted_by_confidence():
    # two unsure reads say "1" at the end, one sure read says "2": the sure one wins
    reads = [reading("ABC1", 0.4), reading("ABC1", 0.4), reading("ABC2", 0.95)]
    assert fuse_reads(reads)[0] == "ABC2"
    # equally sure reads: the majority wins
    assert fuse_reads([reading("ABC1"), reading("ABC1"), reading("ABC2")])[0] == "ABC1"


def test_wider_views_count_for_more():
    # three reads of a small, far plate say "1"; two of it up close say "2"
    far, near = [reading("AB1C", 0.6)] * 3, [reading("AB2C", 0.6)] * 2
    assert fuse_reads(far + near)[0] == "AB1C"
    text, confidence, _ = fuse_reads(far + near, view_widths=[41, 42, 45, 93, 117])
    assert text == "AB2C"
    # the scale of the widths does not matter, only their ratios; an empty read still
    # does not vote, and its width goes with it
    assert fuse_reads(far + near, view_widths=[4.1, 4.2, 4.5, 9.3, 11.7])[1] == pytest.approx(
        confidence
    )
    assert fuse_reads([reading("")] + far[:1] + near, view_widths=[500, 40, 90, 90])[0] == "AB2C"


def test_empty_reads_do_not_vote():
    assert fuse_reads([]) == ("", 0.0, [])
    empty = reading("")
    assert empty.text == "" and empty.confidence == 0.0
    assert fuse_reads([empty, empty]) == ("", 0.0, [])
    assert fuse_reads([empty, reading("A1"), empty])[0] == "A1"


# -- rejection -----------------------------------------------------------------------------


def test_rejection_reasons():
    scheduler = ReadScheduler(
        VotingConfig(min_read_confidence=0.2, formats=[r"[A-C]{2}[1-3]+"], read_interval=0)
    )
    reads = [reading("AB12"), reading(""), reading("AB12", char_conf=0.3), reading("A1B2")]
    reasons = [scheduler.add(1, r, i, i, 1.0, detection()).rejected for i, r in enumerate(reads)]
    # "A1B2" is two confident characters away from the format: no fitting text is near it
    assert reasons == [None, "no text", "low confidence", "no format match"]
    # any one of several formats is enough
    scheduler = ReadScheduler(VotingConfig(formats=[r"[A-C]{2}[1-3]+", r"[1-3]{4}"]))
    assert scheduler.add(1, reading("1231"), 0, 0, 1.0, detection()).rejected is None


def test_a_read_one_confusable_character_off_a_format_is_corrected():
    """The recognizer saw a B where the format wants a digit, and gave the 1 a fair chance."""
    probs = reading("ABB2").probs.copy()
    probs[2] = 0.01
    probs[2, CHARSET.index("B")], probs[2, CHARSET.index("1")] = 0.55, 0.4
    scheduler = ReadScheduler(VotingConfig(formats=[r"[A-C]{2}[1-3]+"]))
    read = scheduler.add(1, reading_from_probs(probs, CHARSET), 0, 0, 1.0, detection())
    assert read.rejected is None
    assert read.reading.text == "AB12" and read.reading.char_confidences[2] == pytest.approx(0.4)
    assert scheduler.pop(1).fused()[0] == "AB12"


def test_formats_choose_the_plate_length():
    """Most reads double the last character (a cut-off edge); only the shorter length fits."""
    reads = [reading("AB123", 0.95)] * 3 + [reading("AB12", 0.8)] * 2
    assert fuse_reads(reads)[0] == "AB123"
    text, confidence, char_conf = fuse_reads(reads, (re.compile("[A-C]{2}[1-3]{2}"),))
    assert text == "AB12" and len(char_conf) == 4
    assert confidence == pytest.approx(0.8**4 * (2 * 0.8**4 * 0.95) / (
        3 * 0.95**5 * 0.95 + 2 * 0.8**4 * 0.95), rel=1e-4)  # fmt: skip
    assert fuse_reads(reads, (re.compile("C+"),)) == ("", 0.0, [])


def round_glyph_read(text: str, p_o: float, p_zero: float) -> Reading:
    """A read of ``text`` over a charset with O and 0, each ``?`` an O at ``p_o`` with the
    zero at ``p_zero``, the other characters sure."""
    charset = ("<pad>", "0", "3", "6", "9", "A", "J", "K", "O", "R", "S")
    probs = np.full((MAX_LEN, len(charset)), 0.001, np.float32)
    for pos in range(MAX_LEN):
        if pos >= len(text):
            probs[pos, 0] = 0.99
        elif text[pos] == "?":
            probs[pos, charset.index("O")], probs[pos, charset.index("0")] = p_o, p_zero
        else:
            probs[pos, charset.index(text[pos])] = 0.99
    return reading_from_probs(probs, charset)


def test_a_round_glyph_after_a_digit_is_a_zero_where_the_zero_is_close():
    """A Croatian 0 is as round as an O: after a digit the zero is taken unless far behind."""
    assert fuse_reads([round_glyph_read("RK9?6AJ", 0.5, 0.37)])[0] == "RK906AJ"
    assert fuse_reads([round_glyph_read("RK3??AS", 0.79, 0.14)])[0] == "RK300AS"
    text, _, char_conf = fuse_reads([round_glyph_read("RK9?6AJ", 0.5, 0.37)])
    assert char_conf[3] == pytest.approx(0.37, rel=1e-4)
    # far behind: the O stays; after a letter, or first, an O is a letter
    assert fuse_reads([round_glyph_read("RK9?6AJ", 0.9, 0.05)])[0] == "RK9O6AJ"
    assert fuse_reads([round_glyph_read("RK?36AJ", 0.5, 0.37)])[0] == "RKO36AJ"
    assert fuse_reads([round_glyph_read("?K36AJ", 0.5, 0.37)])[0] == "OK36AJ"
    # a plate format decides instead of the rule
    assert (
        fuse_reads([round_glyph_read("RK9?6AJ", 0.5, 0.37)], (re.compile("RK9O6AJ"),))[0]
        == "RK9O6AJ"
    )


def test_rejected_reads_are_kept_but_do_not_vote(crop):
    scheduler = ReadScheduler(VotingConfig(formats=[r"[A-C]{2}[1-3]+"], read_interval=0))
    d = detection()
    for frame, r in enumerate([reading("AB12"), reading("1AB2", 0.99), reading("AB12")]):
        scheduler.add(7, r, frame, pts=frame, quality=1.0 + frame, detection=d)
    state = scheduler.pop(7)
    assert isinstance(state, TrackText)
    assert len(state.reads) == 3 and len(state.accepted) == 2
    assert state.rejected == {"no format match": 1}
    assert state.reads[1].rejected == "no format match"
    assert state.fused()[0] == "AB12"
    assert state.deciding_read() is state.reads[2]  # agreeing read with the best view
    assert scheduler.pop(7) is None


def test_deciding_read_prefers_an_agreeing_read_over_a_better_view():
    scheduler = ReadScheduler(VotingConfig())
    d = detection()
    scheduler.add(1, reading("AB12"), 0, pts=0, quality=5.0, detection=d)
    scheduler.add(1, reading("AB12"), 3, pts=3, quality=6.0, detection=d)
    scheduler.add(1, reading("AB13", 0.5), 6, pts=6, quality=50.0, detection=d)
    state = scheduler.texts[1]
    assert state.fused()[0] == "AB12"
    assert state.deciding_read().frame == 3
    assert state.best_quality == 50.0


# -- scheduling ----------------------------------------------------------------------------


def test_new_track_is_read_at_once(crop):
    scheduler = ReadScheduler(VotingConfig())
    quality = scheduler.wants_read(1, detection(), crop, pts=0.0)
    assert quality is not None and quality > 0


def test_cooldown_between_reads(crop):
    scheduler = ReadScheduler(VotingConfig(read_interval=3, improvement=1.0))
    d = detection()
    q = scheduler.wants_read(1, d, crop, 10)
    scheduler.add(1, reading("AB12"), 10, 10, q, d)
    assert scheduler.wants_read(1, d, crop, 11) is None
    assert scheduler.wants_read(1, d, crop, 12) is None
    assert scheduler.wants_read(1, d, crop, 13) == pytest.approx(q)
    # the cool-down is per track
    assert scheduler.wants_read(2, d, crop, 11) is not None
    # and it is known before the plate is cut out of the frame
    assert not scheduler.due(1, d, 12) and scheduler.due(1, d, 13)


def test_a_track_read_enough_is_not_due_and_a_small_plate_counts_as_rejected():
    scheduler = ReadScheduler(VotingConfig(read_interval=0, max_reads=1, min_width=40))
    d = detection(width=100)
    assert scheduler.due(1, d, 0)
    scheduler.add(1, reading("AB12"), 0, 0, 1.0, d)
    assert not scheduler.due(1, d, 1)
    assert not scheduler.due(2, detection(width=30), 1)
    assert scheduler.texts[2].rejected["too small"] == 1


def test_reread_only_when_the_view_improved(crop):
    scheduler = ReadScheduler(VotingConfig(read_interval=1, improvement=1.1, min_reads=1))
    d = detection(width=100)
    q = scheduler.wants_read(1, d, crop, 0)
    scheduler.add(1, reading("AB12"), 0, 0, q, d)
    assert scheduler.wants_read(1, d, crop, 5) is None  # same view
    assert scheduler.wants_read(1, detection(width=105), crop, 5) is None  # 5 % wider: not enough
    assert scheduler.wants_read(1, detection(width=100, score=0.5), crop, 5) is None  # less sure
    assert scheduler.wants_read(1, detection(width=100, skew=8), crop, 5) is None  # oblique
    assert scheduler.wants_read(1, d, np.full_like(crop, 128), 5) is None  # blurred
    wider = scheduler.wants_read(1, detection(width=120), crop, 5)
    assert wider == pytest.approx(q * 1.2, rel=1e-3)


def test_sharper_view_is_reread(crop):
    scheduler = ReadScheduler(VotingConfig(read_interval=1, min_reads=1))
    d, blurred = detection(), np.full_like(crop, 128)
    q = scheduler.wants_read(1, d, blurred, 0)
    scheduler.add(1, reading("AB12"), 0, 0, q, d)
    assert scheduler.wants_read(1, d, blurred, 5) is None
    assert scheduler.wants_read(1, d, crop, 5) > q * 1.1  # same box, crisper crop


def test_first_reads_need_no_better_view(crop):
    """A parked car's view never improves: it still gets ``min_reads`` reads to vote with."""
    scheduler = ReadScheduler(VotingConfig(read_interval=2, min_reads=3, improvement=1.1))
    d = detection()
    frames = [f for f in range(20) if _read_if_wanted(scheduler, d, crop, f)]
    assert frames == [0, 2, 4]
    # past min_reads only a better view is read
    assert scheduler.wants_read(1, detection(width=120), crop, 30) is not None


def _read_if_wanted(scheduler: ReadScheduler, d: Detection, crop, frame: int) -> bool:
    quality = scheduler.wants_read(1, d, crop, frame)
    if quality is not None:
        scheduler.add(1, reading("AB12"), frame, frame, quality, d)
    return quality is not None


def test_rejected_read_does_not_raise_the_bar(crop):
    scheduler = ReadScheduler(VotingConfig(read_interval=0, min_read_confidence=0.5))
    d = detection()
    q = scheduler.wants_read(1, d, crop, 0)
    scheduler.add(1, reading("AB12", char_conf=0.3), 0, 0, q, d)  # rejected: low confidence
    assert scheduler.texts[1].rejected == {"low confidence": 1}
    # the view that produced a rejected read may be read again
    assert scheduler.wants_read(1, d, crop, 1) == pytest.approx(q)


def test_read_cap_per_track(crop):
    scheduler = ReadScheduler(VotingConfig(max_reads=3, read_interval=0, improvement=1.0))
    for frame in range(3):
        d = detection(width=100 + 10 * frame)
        q = scheduler.wants_read(1, d, crop, frame)
        assert q is not None
        scheduler.add(1, reading("AB12"), frame, frame, q, d)
    assert scheduler.wants_read(1, detection(width=400), crop, 10) is None


def test_min_width(crop):
    scheduler = ReadScheduler(VotingConfig(min_width=40))
    assert scheduler.wants_read(1, detection(width=30), crop, 0) is None
    assert scheduler.texts[1].rejected == {"too small": 1}
    assert scheduler.wants_read(1, detection(width=40), crop, 1) is not None


def test_frontality():
    assert frontality(detection().corners) == pytest.approx(1.0)
    assert 0 < frontality(detection(skew=8).corners) < 0.7


# -- a text final before the track ends --------------------------------------------------------


def test_stable_once_the_last_reads_agree():
    state = TrackText()
    d = detection()
    for frame, text in enumerate(["AB13", "AB12", "AB12"]):
        state.reads.append(Read(reading(text), frame, 1.0, d))
    assert state.is_stable(2, min_confidence=0.3)
    assert not state.is_stable(3, min_confidence=0.3)  # the first read disagrees
    assert not state.is_stable(4, min_confidence=0.3)  # not that many reads
    assert not state.is_stable(2, min_confidence=0.99)  # not confident enough
    assert not state.is_stable(0, min_confidence=0.0)


def test_a_text_voted_from_one_lucky_read_among_unreadable_ones_is_in_doubt():
    """A van's lettering: one read at 0.26 among reads too unsure to vote is no plate."""
    scheduler = ReadScheduler(VotingConfig(min_read_confidence=0.05, read_interval=0))
    d = detection()
    for frame in range(8):
        lucky = frame == 5
        scheduler.add(1, reading("C1231", 0.87 if lucky else 0.4), frame, frame, 1.0, d)
    state = scheduler.texts[1]
    assert len(state.accepted) == 1 and state.fused()[1] > 0.25
    assert state.doubt(min_confidence=0.25, min_read_share=0.25) == "few reads accepted"
    assert not state.is_stable(1, min_confidence=0.25, min_read_share=0.25)
    assert state.doubt(min_confidence=0.25, min_read_share=0.1) is None
    assert state.doubt(min_confidence=0.5, min_read_share=0.1) == "low voted confidence"


def test_unreadable_views_of_a_plate_still_far_away_do_not_count_against_it():
    """An approaching plate: ten small views read below the read threshold, then two close
    ones read well. Only views as good as the worst accepted one are counted."""
    scheduler = ReadScheduler(VotingConfig(min_read_confidence=0.05, read_interval=0))
    d = detection()
    for frame in range(10):
        scheduler.add(1, reading("C1231", 0.4), frame, frame, 10.0 + frame, d)  # rejected
    for frame in (10, 11):
        scheduler.add(1, reading("C1231", 0.9), frame, frame, 100.0 + frame, d)
    state = scheduler.texts[1]
    assert len(state.accepted) == 2 and len(state.reads) == 12
    assert state.doubt(min_confidence=0.25, min_read_share=0.5) is None


def test_one_lucky_read_on_the_best_view_is_no_vote():
    """A defocused passing plate: 15 reads too unsure to vote, and one at 0.27 on the track's
    best view, a wrong text (eu_street defocused: 8JL064 for 8JL084). No view is as good as
    that one, but a single accepted read still counts against all the track's reads; a plate
    whose far view was unreadable and whose one close view was read well still passes."""
    scheduler = ReadScheduler(VotingConfig(min_read_confidence=0.05, read_interval=0))
    d = detection()
    for frame in range(15):
        scheduler.add(1, reading("C1231", 0.4), frame, frame, 50.0 + frame, d)  # rejected
    scheduler.add(1, reading("C1231", 0.9), 15, 15, 100.0, d)
    state = scheduler.texts[1]
    assert len(state.accepted) == 1 and state.fused()[1] > 0.25
    assert state.doubt(min_confidence=0.25, min_read_share=0.5) == "few reads accepted"
    scheduler.add(2, reading("C1231", 0.4), 0, 0, 10.0, d)  # far away, rejected
    scheduler.add(2, reading("C1231", 0.9), 1, 1, 100.0, d)
    assert scheduler.texts[2].doubt(min_confidence=0.25, min_read_share=0.5) is None


def test_a_track_absorbs_the_reads_of_the_track_it_took_over():
    scheduler = ReadScheduler(VotingConfig(read_interval=0, min_read_confidence=0.2))
    d = detection()
    scheduler.add(1, reading("AB12"), 0, 0, 5.0, d)
    scheduler.add(1, reading("AB12", char_conf=0.3), 1, 1, 1.0, d)  # rejected
    scheduler.add(2, reading("AB12"), 4, 4, 2.0, d)
    earlier, later = scheduler.pop(1), scheduler.texts[2]
    later.absorb(earlier)
    assert [r.frame for r in later.reads] == [0, 1, 4]
    assert len(later.accepted) == 2 and later.rejected == {"low confidence": 1}
    assert later.best_quality == 5.0 and later.fused()[0] == "AB12"


def test_rejected_reads_do_not_count_towards_stability():
    scheduler = ReadScheduler(VotingConfig(min_read_confidence=0.5, read_interval=0))
    d = detection()
    scheduler.add(1, reading("AB12"), 0, 0, 1.0, d)
    scheduler.add(1, reading("AB12", char_conf=0.3), 1, 1, 1.0, d)  # rejected
    assert not scheduler.texts[1].is_stable(2, min_confidence=0.0)
    scheduler.add(1, reading("AB12"), 2, 2, 1.0, d)
    assert scheduler.texts[1].is_stable(2, min_confidence=0.0)


def test_a_final_track_is_read_no_more(crop):
    scheduler = ReadScheduler(VotingConfig(read_interval=0))
    d = detection()
    assert scheduler.wants_read(1, d, crop, 0) is not None
    scheduler.texts[1].final = True
    assert scheduler.wants_read(1, detection(width=300), crop, 10) is None
