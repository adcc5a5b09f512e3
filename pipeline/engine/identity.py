"""A customer's identity numbers, checked the way a mainland bank checks them: pure Python
(no Flask, no SQLAlchemy), used by the command schemas, importers and data generators.

* Resident ID numbers (居民身份证号码, GB 11643-1999): 18 characters, 17 digits and a check
  digit (``0``–``9`` or ``X``); characters 1–6 the region of first registration,
  7–14 the date of birth (YYYYMMDD), 15–17 a sequence number, 18 the check digit.
  Residence permits of Hong Kong, Macao and Taiwan residents (81/82/83…) share the format.
* Mainland mobile numbers: 11 digits starting ``13``–``19``; a ``+86``/``86``/``0086``
  prefix, spaces and dashes are accepted and removed.
* Customer numbers: the bank's own, 1–32 letters, digits or dashes.

Each ``*_problem`` function answers None for a good value, or the reason it is not one
(an English sentence, the same words the API answers with); the ``normal_*`` functions
give the stored form of a value (the stored form is also what a search matches).
"""
from __future__ import annotations

import math
import re
from datetime import date
from operator import mul

ID_LENGTH = 18
WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))  # 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
CHECK_CHARS = "10X98765432"  # indexed by the weighted sum mod 11
# First two digits: a province-level division (GB/T 2260), or 81/82/83 for the residence
# permits of Hong Kong, Macao and Taiwan residents.
PROVINCES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82", "83"})
MAINLAND = PROVINCES - {"71", "81", "82", "83"}  # a person's mainland code names a county
EARLIEST_BIRTH = date(1900, 1, 1)

_ID = re.compile(r"[0-9]{17}[0-9X]")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_MOBILE_SEPARATORS = re.compile(r"[\s\-]")
_CUSTOMER_NO = re.compile(r"[A-Za-z0-9-]{1,32}")
CUSTOMER_NO_MAX = 32
ASSETS_MAX = 10**12  # CNY


# ---------------------------------------------------------------- resident ID numbers

def check_char(first17: str) -> str:
    """The check character of the first 17 digits (GB 11643's ISO 7064 MOD 11-2)."""
    return CHECK_CHARS[sum(map(mul, map(int, first17), WEIGHTS)) % 11]


def normal_id_number(value: str) -> str:
    """An ID number as stored and searched: no spaces, the check letter upper-case."""
    return re.sub(r"\s", "", value).upper()


def birth_date(id_number: str) -> date | None:
    """The date of birth in an ID number (characters 7–14), None when it is no date."""
    digits = id_number[6:14]
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def id_number_problem(value: str, *, today: date | None = None) -> str | None:
    """Why ``value`` (already normalised) is not a resident ID number, or None."""
    if len(value) != ID_LENGTH:
        return "An ID number has 18 characters."
    if not _ID.fullmatch(value):
        return "An ID number is 17 digits and a check digit (0-9 or X)."
    if value[:2] not in PROVINCES or (value[:2] in MAINLAND and value[2:6] == "0000"):
        return "The ID number's region code is not valid."
    born = birth_date(value)
    if born is None or not EARLIEST_BIRTH <= born <= (today or date.today()):
        return "The ID number's date of birth is not valid."
    if check_char(value[:17]) != value[17]:
        return "The ID number's check digit does not match."
    return None


def make_id_number(region: str, born: date, sequence: int) -> str:
    """A valid ID number: ``region`` (6 digits), the date of birth, ``sequence`` (0–999)
    and its check digit (for demo and benchmark data)."""
    first17 = f"{region}{born.year:04d}{born.month:02d}{born.day:02d}{sequence:03d}"
    return first17 + check_char(first17)


# ---------------------------------------------------------------- mobile numbers

def normal_mobile(value: str) -> str:
    """A mobile number as stored and searched: separators and the country code removed."""
    digits = _MOBILE_SEPARATORS.sub("", value)
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            return digits[len(prefix):]
    return digits


def mobile_problem(value: str) -> str | None:
    """Why ``value`` (already normalised) is not a mainland mobile number, or None."""
    if not _MOBILE.fullmatch(value):
        return "A mobile number is 11 digits starting with 13 to 19."
    return None


# ---------------------------------------------------------------- customer numbers, assets

def customer_no_problem(value: str) -> str | None:
    if not _CUSTOMER_NO.fullmatch(value):
        return "A customer number is 1 to 32 letters, digits or dashes."
    return None


def assets_problem(value: float) -> str | None:
    if not math.isfinite(value) or value < 0 or value > ASSETS_MAX:
        return "Assets are a number from 0 to 1,000,000,000,000 (CNY)."
    return None


def birthday_problem(birthday: date, id_number: str | None, *,
                     today: date | None = None) -> str | None:
    """Why ``birthday`` cannot be the customer's: before 1900, in the future, or not the
    date of birth in their (valid) ID number."""
    if not EARLIEST_BIRTH <= birthday <= (today or date.today()):
        return "The birthday is not a plausible date of birth."
    if id_number is not None:
        born = birth_date(id_number)
        if born is not None and born != birthday:
            return "The birthday is not the date of birth in the ID number."
    return None
