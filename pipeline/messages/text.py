"""Message texts: filling in a template's placeholders and counting SMS segments.

A text of GSM-7 characters (GSM 03.38's basic set; its extension characters count two)
fits 160 characters in one SMS, 153 per part when it needs several. Anything else goes as
UCS-2: 70 characters (UTF-16 units) in one SMS, 67 per part.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.engine.definition import placeholders_of

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")
LIMITS = {"gsm7": (160, 153), "ucs2": (70, 67)}


@dataclass(frozen=True)
class Segments:
    """How an SMS text travels: its ``encoding`` (gsm7 or ucs2), its length in that
    encoding's units, the SMS ``count`` it needs, and the characters one part holds."""

    encoding: str
    units: int
    count: int
    per_part: int

    def as_dict(self) -> dict[str, object]:
        return {"encoding": self.encoding, "units": self.units, "segments": self.count,
                "per_segment": self.per_part}


def segments(text: str) -> Segments:
    """The segments ``text`` needs as one SMS (0 for an empty text)."""
    if all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text):
        encoding = "gsm7"
        units = sum(2 if ch in GSM_EXTENSION else 1 for ch in text)
    else:
        encoding = "ucs2"
        units = len(text.encode("utf-16-le")) // 2
    single, part = LIMITS[encoding]
    if units == 0:
        count = 0
    elif units <= single:
        count = 1
    else:
        count = math.ceil(units / part)
    return Segments(encoding, units, count, single if count <= 1 else part)


def check(text: str) -> list[str]:
    """The placeholders of ``text``; raises ValueError naming the first bad one."""
    return placeholders_of(text)


def render(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each placeholder replaced by its value (a missing value: empty)."""
    names = placeholders_of(text)
    return text.format_map({name: values.get(name) or "" for name in names})
