"""Execution stage, live mode: an intent record in -> the order's request bytes handed to the socket.

One process runs the real :class:`~stages.trading.execution.stage.ExecutionStage`
(``mode = "live"``, an Ed25519 session: requests carry no signature of their
own) on its event loop, connected over a real WebSocket on loopback (TCP) to a
sink served by the same loop that answers ``session.logon`` and refuses
everything else (-2010), so every order ends and nothing piles up. The sink
is on the same thread on purpose: the socket write then costs what the kernel
takes to queue the bytes, not a wake-up of another process on a shared core
(with the sink in another process on this 2-core machine, ``send(2)`` took
~1 ms under load: the scheduler, not the stage). Timed per intent:

``stage``
    From just before the stage reads the ORDER_INTENT record (its
    ``ts_origin`` is stamped then; the record is flagged ``TICK_CAUSED``) to the
    moment the request's bytes were handed to the socket: the record decode,
    the OMS submit, the parameters, the rate limiter
    (seeded with limits it never reaches, so it counts but never holds),
    ``timestamp``, the JSON encode, the WebSocket frame and the socket write;
    and whatever else the stage does before the bytes leave (the slippage
    estimate: the stage's view of the book holds a 20-level DEPTH snapshot
    that the bench's BUY crosses, :data:`BOOK_LEVELS`, so each order has one
    walked as in a live run).
    The stage records exactly this span as tick-to-order (its end-to-end
    histogram); the bench collects the same values. One intent at a time; the
    sink's refusal is read (untimed) before the next.
``baseline``
    ``orjson.dumps`` of the same request (id, method, the order's parameters,
    ``timestamp``, ``recvWindow``), timed the same way in the same run,
    interleaved: the least any Python client could do.

Reported: medians per repetition (the median of those), p99, and the ratio
``stage / baseline``. ``--roundtrip`` adds the order round trip against the
loopback exchange (``hftpipe exchange run``, flow off): a LIMIT far from the
market through the same stage, timed from the intent record read to its ACK
(the user data event or the answer, whichever comes first), then its cancel
to CANCELED, one request at a time: each answer is in before the next request
goes. The account's ORDERS limits are
raised for it, so that the figure is the venue's, not the limiter holding the
51st order of 10 s. Nothing here asserts a speed; figures go to bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson
import websockets
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from websockets.asyncio.server import ServerConnection, serve

from bench.clock import us
from hftpipe.runtime.config import parse_config
from hftpipe.runtime.wiring import create_pipeline_objects, open_stage_context
from hftpipe.schema import SPECS
from hftpipe.schema.marketdata import BookState
from hftpipe.schema.records import RecordFlag, RecordType
from hftpipe.schema.trading import ExecType, IntentAction, OrderSide, OrderType, TimeInForce, client_order_id
from hftpipe.substrate.histogram import Histogram
from stages.trading.execution.binance.messages import intent_order_params
from stages.trading.execution.stage import ExecutionStage

INTENTS: Final = 5_000
REPETITIONS: Final = 5
WARMUP: Final = 200
STRATEGY: Final = 7
EPOCH: Final = 1_765_000_000_000
_INTENT = SPECS[RecordType.ORDER_INTENT]
_TS_ORIGIN: Final = _INTENT.offset_of("ts_origin")
_DEPTH = SPECS[RecordType.DEPTH]
BOOK_LEVELS: Final = 20
"""The book the stage estimates on: bids from 29 999.00 and asks from 29 999.50 (the bench's BUY at 30 000
crosses them), one cent apart, 0.0004 BTC each: the order's 0.001 walks 3 ask levels."""
_UNLIMITED: Final = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 10**12},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 10**12},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 10**12},
]
"""Binance's windows, limits it never reaches: every request counted, none held."""


def _drop(buf: memoryview, offset: int, now: int) -> None:
    """The reports are not looked at here: read so that their ring never fills."""


class Samples(Histogram):
    """The stage's end-to-end histogram, kept as plain values (the same ``record`` calls)."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: list[int] = []

    def record(self, value: int) -> None:
        self.values.append(value)


# ------------------------------------------------------------------------------------------ the sink
async def _sink(ws: ServerConnection) -> None:
    """A WebSocket API that logs anyone on and refuses every other request (-2010): answers, no state."""
    try:
        async for message in ws:
            request = orjson.loads(message)
            if request["method"] == "session.logon":
                answer = {"id": request["id"], "status": 200, "result": {"apiKey": "bench"}}
            else:
                answer = {"id": request["id"], "status": 400, "error": {"code": -2010, "msg": "sink"}}
            await ws.send(orjson.dumps(answer).decode())
    except websockets.ConnectionClosed:
        pass


# ------------------------------------------------------------------------------------------ the stage
class Bench:
    """``risk`` (probe source) -> ``execution`` (live) -> ``sink`` (probe sink), the stage on this loop."""

    def __init__(self, name: str, url: str, api_key: str, pem: Path) -> None:
        self.config = parse_config(
            {
                "pipeline": {"name": name},
                "instruments": [
                    {
                        "venue": "binance",
                        "symbol": "BTCUSDT",
                        "price_scale": 2,
                        "qty_scale": 5,
                        "tick": "0.01",
                        "lot": "0.00001",
                    },
                ],
                "stages": {
                    "risk": {"class": "stages.probe:ProbeSource"},
                    "execution": {
                        "class": "stages.trading.execution.stage:ExecutionStage",
                        "params": {"mode": "live", "ws_api_url": url, "api_key": api_key, "private_key_path": str(pem)},
                    },
                    "sink": {"class": "stages.probe:ProbeSink"},
                },
                "rings": [
                    {"name": "intents", "from": "risk", "to": "execution", "capacity": 4096, "slot_size": 192},
                    {"name": "reports", "from": "execution", "to": "sink", "capacity": 4096, "slot_size": 192},
                ],
            },
            source="bench",
        )
        self.owned = create_pipeline_objects(self.config)
        self.contexts = [open_stage_context(self.config, self.owned.control, s) for s in ("risk", "execution", "sink")]
        self.ctx = self.contexts[1]
        self.samples = Samples()
        self.ctx.end_to_end = self.samples
        self.stage = ExecutionStage(self.ctx)
        self.reports = self.contexts[2].input_port()
        self.instrument = self.config.instruments[0]
        self.record = bytearray(_INTENT.itemsize)

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.close()
        self.owned.destroy()

    @property
    def live(self) -> Any:
        assert self.stage.live is not None
        return self.stage.live

    def intent(self, action: IntentAction, seq: int, orig: int, side: OrderSide, price: str, qty: str) -> bytes:
        row = np.zeros(1, dtype=_INTENT.dtype)[0]
        row["rtype"], row["flags"] = int(RecordType.ORDER_INTENT), int(RecordFlag.TICK_CAUSED)
        row["instrument"] = self.instrument.id
        row["order_seq"], row["orig_order_seq"] = seq, orig
        row["price"], row["qty"] = self.instrument.price(price), self.instrument.qty(qty)
        row["epoch"], row["strategy_id"] = EPOCH, STRATEGY
        row["action"], row["side"] = int(action), int(side)
        row["order_type"], row["tif"] = int(OrderType.LIMIT), int(TimeInForce.GTC)
        return bytes(row.tobytes())

    def book(self) -> bytes:
        """A SYNCED DEPTH snapshot of :data:`BOOK_LEVELS` levels a side (see there)."""
        inst = self.instrument
        row = np.zeros(1, dtype=_DEPTH.dtype)[0]
        row["rtype"], row["instrument"], row["seq"] = int(RecordType.DEPTH), inst.id, 1
        row["update_id"], row["levels"], row["book_state"] = 1, BOOK_LEVELS, int(BookState.SYNCED)
        step, lot = inst.price("0.01"), inst.qty("0.0004")
        row["bid_price"] = [inst.price("29999.00") - i * step for i in range(BOOK_LEVELS)]
        row["ask_price"] = [inst.price("29999.50") + i * step for i in range(BOOK_LEVELS)]
        row["bid_qty"] = row["ask_qty"] = [lot] * BOOK_LEVELS
        return bytes(row.tobytes())

    def feed(self, record: bytes) -> None:
        """Hand the stage one intent record as its ring poll would, ``ts_origin`` stamped now."""
        buf = self.record
        buf[:] = record
        now = time.monotonic_ns()
        struct.pack_into("<q", buf, _TS_ORIGIN, now)
        self.stage._on_record(memoryview(buf), 0, now)

    async def settle(self, until: Callable[[], bool]) -> None:
        """Run the loop until ``until()``; each turn parks for 0.1 ms (wakes at once for IO), never spinning: a
        spinning bench takes a core from the exchange's processes and times the scheduler."""
        while not until():
            await asyncio.sleep(0.0001)
        self.reports.poll(_drop, 4096)


def _request_like(b: Bench, seq: int) -> dict[str, Any]:
    """What the stage sends for the bench's order ``seq``: the baseline encodes the same dict."""
    inst = b.instrument
    params: dict[str, Any] = dict(
        intent_order_params(inst, int(OrderSide.BUY), int(OrderType.LIMIT), int(TimeInForce.GTC),
                            inst.price("30000"), inst.qty("0.001"), client_order_id(STRATEGY, EPOCH, seq))
    )  # fmt: skip
    params["timestamp"] = time.time_ns() // 1_000_000
    params["recvWindow"] = 5000
    return {"id": seq, "method": "order.place", "params": params}


async def _intent_to_socket(b: Bench, intents: int, repetitions: int) -> dict[str, Any]:
    live = b.live
    live.client.sync_clock_on_connect = False  # the sink has no ``time``: the offset stays 0
    await live.client.connect()
    live.limiter.on_response(_UNLIMITED, time.time_ns())
    depth = b.book()
    b.stage._on_record(memoryview(bytearray(depth)), 0, time.monotonic_ns())
    stage_runs: list[list[int]] = []
    base_runs: list[list[int]] = []
    seq = 0
    clock = time.monotonic_ns
    for rep in range(repetitions + 1):
        b.samples.values.clear()
        base: list[int] = []
        count = WARMUP if rep == 0 else intents
        for _ in range(count):
            seq += 1
            record = b.intent(IntentAction.NEW, seq, 0, OrderSide.BUY, "30000", "0.001")
            b.feed(record)
            await b.settle(lambda: not live.tasks)
            request = _request_like(b, seq)
            t0 = clock()
            orjson.dumps(request)
            base.append(clock() - t0)
        if rep:
            stage_runs.append(list(b.samples.values))
            base_runs.append(base)
    await live.close()
    stage_ns = [float(np.median(r)) for r in stage_runs]
    base_ns = [float(np.median(r)) for r in base_runs]
    ratios = [s / max(x, 1.0) for s, x in zip(stage_ns, base_ns, strict=True)]
    return {
        "intents": intents,
        "repetitions": repetitions,
        "stage_median_us": us(float(np.median(stage_ns))),
        "stage_p99_us": us(float(np.median([np.percentile(r, 99) for r in stage_runs]))),
        "stage_medians_us": [us(x) for x in stage_ns],
        "baseline_median_us": us(float(np.median(base_ns))),
        "ratio": round(float(np.median(ratios)), 1),
        "refused_by_sink": int(live.refusals.get("order.place -2010 sink", 0)),
    }


# ------------------------------------------------------------------------------------------ round trip
async def _round_trips(b: Bench, count: int) -> dict[str, Any]:
    """Intent record read -> ACK report, and cancel intent -> CANCELED report, against the loopback exchange."""
    live = b.live
    await live.start()
    acks: list[int] = []
    cancels: list[int] = []

    def last(kind: ExecType, seq: int) -> Callable[[], bool]:
        order = live.oms.get((STRATEGY, EPOCH, seq))
        return lambda: (
            order is not None
            and ((kind is ExecType.ACK and order.acked) or (kind is ExecType.CANCELED and not order.is_open))
        )

    for i in range(WARMUP + count):
        seq = 2 * i + 1
        t0 = time.monotonic_ns()
        b.feed(b.intent(IntentAction.NEW, seq, 0, OrderSide.BUY, "30000", "0.001"))
        await b.settle(last(ExecType.ACK, seq))
        t1 = time.monotonic_ns()
        await b.settle(lambda: not live.tasks)  # the placement's own answer in too (it may follow the ACK event)
        t1b = time.monotonic_ns()
        b.feed(b.intent(IntentAction.CANCEL, seq + 1, seq, OrderSide.BUY, "30000", "0.001"))
        await b.settle(last(ExecType.CANCELED, seq))
        t2 = time.monotonic_ns()
        await b.settle(lambda: not live.tasks)  # the cancel's own answer in too before the next order
        if i >= WARMUP:
            acks.append(t1 - t0)
            cancels.append(t2 - t1b)
    await live.close()

    def pct(values: list[int]) -> dict[str, float]:
        return {"p50_us": us(float(np.percentile(values, 50))), "p99_us": us(float(np.percentile(values, 99)))}

    sends = b.samples.values[WARMUP:]
    return {
        "orders": count,
        "place_to_ack": pct(acks),
        "of_which_intent_to_socket": pct(sends),
        "cancel_to_canceled": pct(cancels),
    }


def _exchange_round_trips(count: int, directory: Path) -> dict[str, Any]:
    """The loopback exchange (flow off), an account "bench" with an Ed25519 key and funds, the stage on it."""
    from bench.exchange_roundtrip import _config, _start

    config = _config(directory)
    text = config.read_text()  # the account's ORDERS limits out of the way: the limiter would hold, not the venue
    for old, new in (
        ("orders_per_10s = 50", "orders_per_10s = 1000000"),
        ("orders_per_day = 160000", "orders_per_day = 100000000"),
    ):
        if text.count(old) != 1:
            raise RuntimeError(f"configs/exchange.toml changed: {old!r} is not there once")
        text = text.replace(old, new)
    config.write_text(text)
    process = _start(config)
    try:
        key = Ed25519PrivateKey.generate()
        pem, public = directory / "rt.pem", directory / "rt.pub.pem"
        pem.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
        public.write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
        exe = shutil.which("hftpipe", path=str(Path(sys.executable).parent))
        cmd = [exe] if exe else [sys.executable, "-m", "hftpipe"]

        def exchange(*args: str) -> str:
            done = subprocess.run([*cmd, "exchange", *args, "-c", str(config)], capture_output=True, text=True,
                                  check=True, timeout=120)  # fmt: skip
            return done.stdout

        added = exchange("keys", "add", "--account", "bench", "--ed25519-public-key", str(public), "--json")
        exchange("deposit", "--account", "bench", "--asset", "USDT", "--amount", "1000000")
        settings = tomllib.loads(config.read_text())["exchange"]
        url = f"ws://{settings['host']}:{settings['api_port']}/ws-api/v3"
        b = Bench(f"bench-exec-rt-{os.getpid()}", url, json.loads(added)["api_key"], pem)
        try:
            return asyncio.run(_round_trips(b, count))
        finally:
            b.close()
    finally:
        process.terminate()
        process.wait(60)


# ------------------------------------------------------------------------------------------ entry
def run(intents: int = INTENTS, repetitions: int = REPETITIONS, roundtrip: int = 0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-exec-") as tmp:
        directory = Path(tmp)
        pem = directory / "bench.pem"
        pem.write_bytes(Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))

        async def measure() -> dict[str, Any]:
            async with serve(_sink, "127.0.0.1", 0, compression=None) as server:
                port = next(iter(server.sockets)).getsockname()[1]
                b = Bench(f"bench-exec-{os.getpid()}", f"ws://127.0.0.1:{port}/ws-api/v3", "bench", pem)
                try:
                    return await _intent_to_socket(b, intents, repetitions)
                finally:
                    b.close()

        report: dict[str, Any] = {"intent_to_socket": asyncio.run(measure())}
        if roundtrip:
            report["round_trip"] = _exchange_round_trips(roundtrip, directory)
    return report


def format_report(report: dict[str, Any]) -> str:
    s = report["intent_to_socket"]
    lines = [
        f"execution stage, intent record in -> request bytes on the socket ({s['intents']} intents x "
        f"{s['repetitions']} repetitions):",
        f"  stage     median {s['stage_median_us']} us  p99 {s['stage_p99_us']} us  (per repetition "
        f"{s['stage_medians_us']})",
        f"  baseline  median {s['baseline_median_us']} us  (orjson.dumps of the same request)",
        f"  ratio     {s['ratio']}x",
    ]
    rt = report.get("round_trip")
    if rt:
        lines += [
            f"order round trip through the stage, loopback exchange ({rt['orders']} orders, one at a time):",
            f"  intent -> ACK       p50 {rt['place_to_ack']['p50_us']} us  p99 {rt['place_to_ack']['p99_us']} us",
            f"  cancel -> CANCELED  p50 {rt['cancel_to_canceled']['p50_us']} us  "
            f"p99 {rt['cancel_to_canceled']['p99_us']} us",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=INTENTS)
    parser.add_argument("--repetitions", type=int, default=REPETITIONS)
    parser.add_argument("--roundtrip", type=int, default=0, help="orders for the round trip (0: skip it)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = run(args.intents, args.repetitions, args.roundtrip)
    print(json.dumps(report) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
