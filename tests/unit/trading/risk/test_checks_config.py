"""checks.py: limits the pipeline's instruments cannot express are config errors naming their key, at build time."""

from __future__ import annotations

from typing import Any

import pytest

from hftpipe.runtime.validation import ConfigError
from stages.trading.risk.checks import PreTradeChecks
from tests.unit.trading.risk.desk import INSTRUMENTS, KEY, DictPositions, settings


@pytest.mark.parametrize(
    ("params", "key", "reason"),
    [
        ({"instruments": {"NOPEUSDT": {"max_position": "1"}}}, "instruments.NOPEUSDT", "no instrument"),
        (
            {"strategies": {"1": {"instruments": {"NOPEUSDT": {"max_position": "1"}}}}},
            "strategies.1.instruments.NOPEUSDT",
            "no instrument",
        ),
        # XYZ trades whole units: half a unit cannot be a bound (and 0 would lift it).
        ({"instruments": {"XYZUSDT": {"max_order_qty": "0.5"}}}, "instruments.XYZUSDT.max_order_qty", "below one"),
        ({"account": {"max_position": "0.5"}}, "account.max_position", "below one unit of XYZUSDT"),
        ({"strategies": {"4": {"max_position": "0.5"}}}, "strategies.4.max_position", "below one unit of XYZUSDT"),
        ({"account": {"max_gross_exposure": "0.000001"}}, "account.max_gross_exposure", "below one unit"),
    ],
)
def test_should_refuse_limits_the_instruments_cannot_express_naming_the_key(
    params: dict[str, Any], key: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        PreTradeChecks(settings(params), INSTRUMENTS, DictPositions())
    assert caught.value.key == f"{KEY}.{key}"
    assert reason in caught.value.reason
