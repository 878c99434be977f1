"""Known plates: texts to flag when a track reads one, each with a label ("gate opener", "stolen").

A plate that is on the list is still read one character off now and then, and nearly always by a
character of the same shape (0 for O, 8 for B, 1 for I), so a read matches an entry that differs
from it only by such characters, at ``MAX_CONFUSIONS`` places at most; the sighting says whether
the match was exact. A wider match (any character, an edit distance as some products allow) would
flag strangers' plates: with 7 characters and 36 symbols, one free substitution already matches
245 other plates an entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streamer.charset import normalize_text
from streamer.config import ConfigError

#: characters that plate faces draw alike; a read may swap one for another of its group
CONFUSABLE_GROUPS = ("0ODQ", "1I", "2Z", "5S", "6G", "8B")
#: places at which a read may differ from an entry by a confusable character
MAX_CONFUSIONS = 1

_GROUP_OF = {c: i for i, group in enumerate(CONFUSABLE_GROUPS) for c in group}


@dataclass(frozen=True)
class Entry:
    plate: str  # normalised: letters and digits only, upper case
    label: str


@dataclass(frozen=True)
class Sighting:
    entry: Entry
    exact: bool


def confusions(read: str, plate: str) -> int | None:
    """Places where ``read`` has another character of the same shape as ``plate``'s; None when
    they differ otherwise (in length, or by characters of different shapes)."""
    if len(read) != len(plate):
        return None
    count = 0
    for a, b in zip(read, plate):
        if a == b:
            continue
        if a not in _GROUP_OF or _GROUP_OF.get(a) != _GROUP_OF.get(b):
            return None
        count += 1
    return count


class Watchlist:
    def __init__(self, entries: list[Entry]):
        self.entries = entries
        self._exact = {e.plate: e for e in entries}

    @classmethod
    def load(cls, path: Path) -> Watchlist:
        """One plate a line, written without spaces (dashes are fine) and optionally followed by
        its label: ``AB-123-CD  delivery van``. Blank lines and ``#`` comments are skipped; a
        line with no plate is a one-line error."""
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise ConfigError(f"watchlist not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the watchlist {path}: {exc}") from None
        entries = []
        for number, line in enumerate(lines, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            plate, _, label = line.replace("\t", " ").partition(" ")
            if not normalize_text(plate):
                raise ConfigError(f"{path}, line {number}: no plate number in {line!r}")
            entries.append(Entry(normalize_text(plate), label.strip()))
        return cls(entries)

    def match(self, text: str) -> Sighting | None:
        """The entry ``text`` reads as: the same plate, else the one with the fewest confusable
        characters changed (``MAX_CONFUSIONS`` at most)."""
        read = normalize_text(text)
        if read in self._exact:
            return Sighting(self._exact[read], exact=True)
        near = [
            (n, e) for e in self.entries if (n := confusions(read, e.plate)) and n <= MAX_CONFUSIONS
        ]
        return Sighting(min(near, key=lambda ne: ne[0])[1], exact=False) if near else None
