"""topology.py: an [exchange] table expands into its stages; other stages and their rings may sit beside it."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from hftpipe.runtime.validation import ConfigError
from stages.exchange.protocol.topology import expand_config
from tests.conftest import REPO


def _raw() -> dict[str, Any]:
    return tomllib.loads((REPO / "configs" / "exchange.toml").read_text())


def test_should_keep_a_stage_with_a_class_and_its_rings_beside_the_exchange() -> None:
    raw = _raw()
    raw["stages"] = {
        "gateway": {"cpu": "none", "process": "exchange"},
        "client": {"class": "some.module:Client", "params": {"x": 1}},
        "sink": {"class": "some.module:Sink"},
    }
    raw["rings"] = [{"from": "client", "to": "sink", "capacity": 64}]
    expanded = expand_config(raw, REPO / "configs")
    assert expanded["stages"]["client"] == {"class": "some.module:Client", "params": {"x": 1}}
    assert expanded["stages"]["gateway"]["cpu"] == "none"
    assert expanded["stages"]["gateway"]["process"] == "exchange"  # an exchange stage may join a composite
    assert {"engine_BTCUSDT", "accounting", "gateway", "publisher", "flow"} <= set(expanded["stages"])
    assert expanded["rings"][-1] == {"from": "client", "to": "sink", "capacity": 64}
    assert any(ring["name"] == "gw-acct" for ring in expanded["rings"][:-1])


@pytest.mark.parametrize(
    ("stages", "rings", "key", "reason"),
    [
        ({"client": {"params": {}}}, [], "stages.client", "needs a class"),
        ({"gateway": {"class": "x:Y"}}, [], "stages.gateway.class", "an exchange stage takes only"),
        ({"client": {"class": "x:Y"}}, [{"from": "client", "to": "gateway"}], "rings[0]", "a stage of the exchange"),
        ({"client": {"class": "x:Y"}}, [{"from": "publisher", "to": ["client"]}], "rings[0]", "publisher"),
    ],
)
def test_should_refuse_what_would_reach_into_the_exchange(
    stages: dict[str, Any], rings: list[dict[str, Any]], key: str, reason: str
) -> None:
    raw = _raw()
    raw["stages"], raw["rings"] = stages, rings
    with pytest.raises(ConfigError) as exc:
        expand_config(raw, REPO / "configs")
    assert exc.value.key == key
    assert reason in str(exc.value)
