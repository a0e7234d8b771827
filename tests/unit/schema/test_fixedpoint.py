"""fixedpoint.py: exact decimal strings <-> int64, never through float."""

from __future__ import annotations

import re

import pytest

from hftpipe.schema.fixedpoint import INT64_MAX, MAX_SCALE, FixedPointError, format_fixed, parse_fixed, to_float

INT64_MIN = -(1 << 63)


@pytest.mark.parametrize(
    ("text", "scale", "expected"),
    [
        ("0.00012300", 8, 12_300),
        ("-1.5", 2, -150),
        ("123", 0, 123),
        ("123", 4, 1_230_000),
        (".5", 1, 5),
        ("5.", 2, 500),
        ("+1.25", 2, 125),
        ("-0", 3, 0),
        ("0.1200", 2, 12),  # trailing zeros past the scale lose nothing
        ("00042.000", 3, 42_000),
        ("65432.10987654", 8, 6_543_210_987_654),
        ("0.000000000000000001", 18, 1),
        ("92233720368.54775807", 8, INT64_MAX),
        ("9223372036854775807", 0, INT64_MAX),
        ("-9223372036854775808", 0, INT64_MIN),
    ],
)
def test_should_parse_decimal_text_exactly(text: str, scale: int, expected: int) -> None:
    assert parse_fixed(text, scale) == expected


@pytest.mark.parametrize(
    ("value", "scale", "expected"),
    [
        (12_300, 8, "0.000123"),
        (-150, 2, "-1.5"),
        (-5, 2, "-0.05"),
        (123, 0, "123"),
        (-123, 0, "-123"),
        (1_230_000, 4, "123"),
        (0, 8, "0"),
        (1, 18, "0.000000000000000001"),
        (INT64_MAX, 8, "92233720368.54775807"),
    ],
)
def test_should_format_the_shortest_exact_decimal(value: int, scale: int, expected: str) -> None:
    assert format_fixed(value, scale) == expected


@pytest.mark.parametrize(
    "value",
    [0, 1, -1, 7, 10, 99_999_999, 100_000_000, -100_000_001, 123_456_789_012, INT64_MAX, INT64_MIN],
)
@pytest.mark.parametrize("scale", [0, 1, 2, 8, 18])
def test_should_round_trip_every_value_through_text(value: int, scale: int) -> None:
    assert parse_fixed(format_fixed(value, scale), scale) == value


@pytest.mark.parametrize(
    ("text", "scale", "canonical"),
    [("0.00012300", 8, "0.000123"), ("5.", 2, "5"), (".5", 1, "0.5"), ("+1.10", 2, "1.1"), ("-0.0", 1, "0")],
)
def test_should_round_trip_text_to_its_canonical_form(text: str, scale: int, canonical: str) -> None:
    assert format_fixed(parse_fixed(text, scale), scale) == canonical


@pytest.mark.parametrize(
    "text",
    [
        "NaN",
        "nan",
        "inf",
        "-inf",
        "Infinity",
        "1e-5",
        "1E5",
        "",
        ".",
        "-",
        "+",
        "-.",
        "1.2.3",
        "--1",
        "+-1",
        " 1",
        "1 ",
        "1_000",
        "0x10",
        "1,5",
        "١٢٣",
        "²",
        "1.²",
    ],
)
def test_should_reject_text_that_is_not_a_plain_decimal(text: str) -> None:
    with pytest.raises(FixedPointError) as exc:
        parse_fixed(text, 8)
    assert str(exc.value) == f"not a plain decimal number: {text!r}"


@pytest.mark.parametrize(("text", "scale"), [("0.123", 2), ("1.000000001", 8), ("0.5", 0), ("-1.0001", 3)])
def test_should_reject_more_significant_decimals_than_the_scale(text: str, scale: int) -> None:
    with pytest.raises(FixedPointError) as exc:
        parse_fixed(text, scale)
    assert str(exc.value) == f"{text!r} has more than {scale} decimal places"


@pytest.mark.parametrize(
    ("text", "scale"),
    [("9223372036854775808", 0), ("-9223372036854775809", 0), ("92233720368.54775808", 8), ("10000000000000", 6)],
)
def test_should_reject_values_that_overflow_int64(text: str, scale: int) -> None:
    with pytest.raises(FixedPointError) as exc:
        parse_fixed(text, scale)
    assert str(exc.value) == f"{text!r} overflows int64 at scale {scale}"


@pytest.mark.parametrize("scale", [-1, MAX_SCALE + 1])
def test_should_reject_a_scale_outside_0_to_18(scale: int) -> None:
    with pytest.raises(FixedPointError, match=re.escape(f"scale must be 0..18, got {scale}")):
        parse_fixed("1", scale)


def test_should_be_a_value_error_so_callers_can_catch_either() -> None:
    assert issubclass(FixedPointError, ValueError)


def test_should_convert_to_float_for_display_only() -> None:
    assert to_float(12_300, 8) == 0.000123
    assert to_float(-150, 2) == -1.5
