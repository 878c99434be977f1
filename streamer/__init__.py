"""platestream runtime: decode, detect, track, read and report license plates in video streams."""

__version__ = "0.1.0"
