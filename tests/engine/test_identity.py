"""Identity numbers as a mainland bank checks them: resident ID numbers (GB 11643), mobile
numbers, customer numbers, assets and birthdays (pure, no database)."""
from __future__ import annotations

import random
from datetime import date

import pytest

from pipeline.engine import identity

TODAY = date(2026, 3, 2)
# The standard's own example, and numbers made with a known check digit.
VALID = ["11010519491231002X", "110101199003074477", "440524198001010013",
         "320311770706001", "810000199408230021"]


def test_check_digit_follows_gb_11643():
    assert identity.WEIGHTS == (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    assert identity.check_char("11010519491231002") == "X"
    assert identity.check_char("44052419800101001") == "3"
    assert identity.check_char("11010119900307447") == "7"


@pytest.mark.parametrize("value", [v for v in VALID if len(v) == 18])
def test_valid_id_numbers(value):
    assert identity.id_number_problem(value, today=TODAY) is None


@pytest.mark.parametrize("value, problem", [
    ("110105194912310021", "check digit"),  # X expected
    ("110101199003074478", "check digit"),
    ("11010519491231002", "18 characters"),
    ("320311770706001", "18 characters"),  # the old 15-digit form
    ("11010519491231002Y", "17 digits and a check digit"),
    ("1101051949123100XX", "17 digits and a check digit"),
    ("990105194912310021", "region"),  # no province 99
    ("110000194912310021", "region"),
    ("110105194902300021", "date of birth"),  # 30 February
    ("110105189912310021", "date of birth"),  # before 1900
    ("110105202703020021", "date of birth"),  # after today
])
def test_invalid_id_numbers_say_why(value, problem):
    assert problem in identity.id_number_problem(value, today=TODAY)


def test_id_numbers_are_normalised_to_upper_case_without_spaces():
    assert identity.normal_id_number(" 110105 19491231 002x ") == "11010519491231002X"
    assert identity.birth_date("11010519491231002X") == date(1949, 12, 31)
    assert identity.birth_date("1101051949023") is None


def test_made_id_numbers_are_valid_and_carry_the_birthday():
    rng = random.Random(7)
    for n in range(500):
        born = date(1940 + rng.randrange(60), 1 + rng.randrange(12), 1 + rng.randrange(28))
        made = identity.make_id_number("310104", born, n % 1000)
        assert identity.id_number_problem(made, today=TODAY) is None
        assert identity.birth_date(made) == born


@pytest.mark.parametrize("value, stored", [
    ("13800138000", "13800138000"),
    ("+86 138 0013 8000", "13800138000"),
    ("86-138-0013-8000", "13800138000"),
    ("0086 19912345678", "19912345678"),
    ("138-0013-8000", "13800138000"),
])
def test_mobile_numbers_are_normalised_and_valid(value, stored):
    assert identity.normal_mobile(value) == stored
    assert identity.mobile_problem(identity.normal_mobile(value)) is None


@pytest.mark.parametrize("value", ["12800138000", "1380013800", "138001380001", "010-12345678",
                                   "+1 138 0013 8000", "1380013800a", "+86 128 0013 8000"])
def test_invalid_mobile_numbers(value):
    assert identity.mobile_problem(identity.normal_mobile(value)) is not None


def test_customer_numbers_assets_and_birthdays():
    assert identity.customer_no_problem("C-0001") is None
    assert identity.customer_no_problem("A" * 32) is None
    for bad in ("A" * 33, "C 0001", "C_0001", "客户1", ""):
        assert identity.customer_no_problem(bad) is not None, bad
    assert identity.assets_problem(0) is None and identity.assets_problem(1e12) is None
    for bad in (-0.01, 1e12 + 1, float("nan"), float("inf")):
        assert identity.assets_problem(bad) is not None, bad
    assert identity.birthday_problem(date(1949, 12, 31), "11010519491231002X") is None
    assert "date of birth in the ID number" in identity.birthday_problem(
        date(1950, 1, 1), "11010519491231002X")
    assert identity.birthday_problem(date(1950, 1, 1), None, today=TODAY) is None
    assert identity.birthday_problem(date(2026, 3, 3), None, today=TODAY) is not None
    assert identity.birthday_problem(date(1899, 12, 31), None, today=TODAY) is not None
