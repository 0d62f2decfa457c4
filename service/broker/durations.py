"""QStash duration strings: `10s`, `1d10h30m`, `500ms`."""

import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")


class InvalidDuration(ValueError):
    pass


def parse_duration(text: str) -> float:
    """Seconds in `text`; a bare number is read as seconds."""
    text = text.strip()
    if re.fullmatch(r"\d+", text):
        return float(text)
    if not _WHOLE.fullmatch(text):
        raise InvalidDuration(f"invalid duration: {text!r}")
    return sum(float(amount) * _UNIT_SECONDS[unit] for amount, unit in _PART.findall(text))
