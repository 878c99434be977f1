"""Region plate formats, and correcting a read to the likeliest text that fits one."""

import re

import numpy as np
import pytest

from streamer.charset import CHARSET
from streamer.formats import REGION_FORMATS, best_matching_text, region_formats

#: real plates of each region (two series where a region has two in use), and texts that are not
PLATES = {
    "nl": (["68NSND", "VD020P", "3VFX39", "XSNB23", "23GSX6"], ["68NSNDD", "ABC123", "6BNSND"]),
    "de": (["NWMMX45", "BAB1234", "MK12E"], ["1234AB", "NW0MX45"]),
    "fr": (["CM852DJ", "1234AB75"], ["CM852D"]),
    "be": (["1CMV331", "ABC123"], ["1CMV33"]),
    "it": (["AB123CD"], ["AB1234"]),
    "es": (["1234BCD", "M1234AB"], ["1234ABC"]),
    "at": (["I7859AM", "W12345A"], ["ABCDEF"]),
    "uk": (["AB12CDE", "P128OER", "ABC123D", "A1", "4321XY"], ["AB12CD", "1234567"]),
    "hr": (["RK906AJ", "ZG1234AB"], ["RK9O6AJ", "ZG12AB"]),
    "cz": (["1AB2345", "5A67890"], ["AB12345"]),
    "sk": (["BA123AB"], ["BA1234A"]),
    "pt": (["AA12BB", "12AB34", "1234AB", "AB1234"], ["ABC123"]),
    "ro": (["B123ABC", "CJ12XYZ"], ["B12AB"]),
    "hu": (["ABC123", "AABB123"], ["AB1234"]),
    "ch": (["ZH123456", "BE1"], ["Z123456"]),
    "se": (["ABC123", "ABC12D"], ["AB1234"]),
    "dk": (["AB12345"], ["ABC1234"]),
    "no": (["AB12345", "EL1234"], ["A123456"]),
    "fi": (["ABC123", "XY1"], ["ABC1234"]),
    "pl": (
        ["WA12345", "WX1234A", "KR1AB23", "WPI1234", "WPIA123", "DW12345"],
        ["W12345", "1234567", "WAB123"],
    ),
    "lt": (["ABC123"], ["AB1234"]),
    "lv": (["AB1234", "HX12"], ["ABC123"]),
    "ee": (["123ABC"], ["ABC123"]),
    "gr": (["IKY1234", "ZHK4567"], ["ABC123", "ADF1234"]),
    "bg": (["CA1234AB", "B1234KX"], ["CA1234AD", "1234AB"]),
    "ie": (["191D12345", "12KY1"], ["D12345"]),
    "br": (["OJJ3984", "ABC1D23"], ["AB12345"]),
    "ar": (["ABC123", "AB123CD"], ["ABC1234"]),
    "cn": (["皖A12345", "粤BD12345"], ["皖AI2345", "A123456"]),
}


@pytest.mark.parametrize("region", sorted(REGION_FORMATS))
def test_each_region_takes_its_plates_and_refuses_others(region):
    formats = [re.compile(f) for f in region_formats([region])]
    good, bad = PLATES[region]
    for text in good:
        assert any(f.fullmatch(text) for f in formats), text
    for text in bad:
        assert not any(f.fullmatch(text) for f in formats), text


def test_unknown_regions_are_named():
    with pytest.raises(ValueError, match="'xx'.*known: ar, at"):
        region_formats(["nl", "xx"])
    assert region_formats(["NL"]) == list(REGION_FORMATS["nl"])


def probs_of(text: str, sure: float = 0.9) -> np.ndarray:
    probs = np.full((len(text), len(CHARSET)), (1 - sure) / (len(CHARSET) - 1), np.float32)
    for i, c in enumerate(text):
        probs[i, CHARSET.index(c)] = sure
    return probs


def test_the_likeliest_fitting_text_is_found():
    dutch = [re.compile(f) for f in region_formats(["nl"])]
    probs = probs_of("6BNSND")
    probs[1, CHARSET.index("8")] = 0.08  # the 8 was the runner-up for the B
    text, confs = best_matching_text(probs, CHARSET, dutch)
    assert text == "68NSND" and confs[1] == pytest.approx(0.08)
    assert best_matching_text(probs_of("68NSND"), CHARSET, dutch)[0] == "68NSND"  # as read


def test_no_text_is_invented_far_from_the_read():
    """A fitting text exists (any letters), but only with confident characters replaced."""
    assert best_matching_text(probs_of("123456", 0.99), CHARSET, [re.compile("[A-Z]{6}")]) is None
