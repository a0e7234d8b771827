"""What a Binance error answer means: the classification table and the exception of each class."""

from __future__ import annotations

import pytest

from stages.trading.execution.binance.errors import (
    ERROR_CLASSES,
    BackOffError,
    BannedError,
    BinanceError,
    ErrorClass,
    OutcomeUnknown,
    RejectedError,
    TransientError,
    UnknownOutcomeError,
    classify,
    error_for,
)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        (-1006, 400, ErrorClass.UNKNOWN_OUTCOME),
        (-1007, 408, ErrorClass.UNKNOWN_OUTCOME),
        (-1001, 400, ErrorClass.TRANSIENT),
        (-1008, 400, ErrorClass.TRANSIENT),
        (-1003, 400, ErrorClass.BACK_OFF),
        (-1015, 400, ErrorClass.BACK_OFF),
        (-1013, 400, ErrorClass.NEVER_RETRY),
        (-2010, 400, ErrorClass.NEVER_RETRY),
        (-2011, 400, ErrorClass.NEVER_RETRY),
        (-1021, 400, ErrorClass.NEVER_RETRY),
        (-1022, 400, ErrorClass.NEVER_RETRY),
        (-2013, 400, ErrorClass.NEVER_RETRY),
    ],
)
def test_should_classify_each_listed_code(code: int, status: int, expected: ErrorClass) -> None:
    assert classify(code, status) is expected
    assert ERROR_CLASSES[code] is expected


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        (-2010, 500, ErrorClass.UNKNOWN_OUTCOME),  # 5xx: whatever the code, the order may exist
        (-1000, 503, ErrorClass.UNKNOWN_OUTCOME),
        (-1003, 418, ErrorClass.BANNED),
        (-1003, 429, ErrorClass.BACK_OFF),
        (-1015, 429, ErrorClass.BACK_OFF),
        (-2010, 429, ErrorClass.BACK_OFF),
    ],
)
def test_should_let_the_status_decide_before_the_code(code: int, status: int, expected: ErrorClass) -> None:
    assert classify(code, status) is expected


@pytest.mark.parametrize("code", [-1000, -1100, -1102, -1121, -2014, -2015, -2021, -2022, 0, -9999])
def test_should_never_retry_a_code_the_table_does_not_list(code: int) -> None:
    assert code not in ERROR_CLASSES
    assert classify(code, 400) is ErrorClass.NEVER_RETRY


@pytest.mark.parametrize(
    ("code", "status", "exception"),
    [
        (-1007, 408, UnknownOutcomeError),
        (-2010, 500, UnknownOutcomeError),
        (-1008, 400, TransientError),
        (-1015, 429, BackOffError),
        (-1003, 418, BannedError),
        (-2011, 400, RejectedError),
    ],
)
def test_should_raise_the_exception_of_the_class(code: int, status: int, exception: type[BinanceError]) -> None:
    error = error_for(code, "text", status, method="order.place")
    assert type(error) is exception
    assert (error.code, error.msg, error.status, error.method) == (code, "text", status, "order.place")
    assert error.error_class is classify(code, status)
    assert str(code) in str(error) and "order.place" in str(error)


def test_should_make_an_unknown_outcome_answer_an_outcome_unknown_never_a_rejection() -> None:
    error = error_for(-1007, "Timeout waiting for response from backend server.", 408)
    assert isinstance(error, OutcomeUnknown)
    assert not isinstance(error, RejectedError)
    assert not isinstance(error_for(-2010, "Account has insufficient balance.", 400), OutcomeUnknown)


def test_should_carry_retry_after_from_the_documented_ban_answer() -> None:
    banned = error_for(
        -1003,
        "Way too much request weight used; IP banned until 1659146400000.",
        418,
        {"serverTime": 1659142907531, "retryAfter": 1659146400000},
    )
    assert isinstance(banned, BannedError) and isinstance(banned, BackOffError)
    assert banned.retry_after_ms == 1659146400000
    assert error_for(-1015, "Too many new orders.", 429).retry_after_ms is None
