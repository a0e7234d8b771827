"""The accountant alone, with no rings and no journal file: records in, records out, balances in between."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hftpipe.schema import exchange_codec as codec
from hftpipe.schema.exchange import Command, Event, OrderStatus
from hftpipe.schema.exchange_errors import INSUFFICIENT_BALANCE, reject_reason
from stages.exchange.accounting.accountant import Accountant
from stages.exchange.protocol.settings import ExchangeSettings
from tests.unit.exchange.accounting.harness import ALICE, BTC, BTCUSDT, BUY, E8, USDT, exchange_table


class Recorded:
    """The accountant's outputs, kept in order."""

    def __init__(self) -> None:
        self.to_gateway_records: list[tuple[Any, ...]] = []
        self.to_engine_records: list[tuple[int, tuple[Any, ...]]] = []

    def to_gateway(self, raw: bytes) -> None:
        self.to_gateway_records.append(codec.unpack_event(raw))

    def to_engine(self, symbol_id: int, raw: bytes) -> None:
        self.to_engine_records.append((symbol_id, codec.unpack_command(raw)))


def accountant(tmp_path: Path) -> tuple[Accountant, Recorded, list[str]]:
    outputs, reports = Recorded(), []
    core = Accountant(ExchangeSettings.from_raw(exchange_table(tmp_path)), outputs, reports.append)
    core.genesis()
    return core, outputs, reports


def new_order(price: int, qty: int, request_id: int = 7) -> list[Any]:
    fields = codec.blank_command()
    fields[codec.INSTRUMENT] = BTCUSDT
    fields[codec.C_REQUEST_ID] = request_id
    fields[codec.C_COMMAND] = int(Command.NEW_ORDER)
    fields[codec.C_ACCOUNT] = ALICE
    fields[codec.C_SIDE] = BUY
    fields[codec.C_PRICE], fields[codec.C_QTY] = price, qty
    fields[codec.C_CLIENT_ORDER_ID] = codec.encode_id("mine")
    return fields


def test_should_journal_the_genesis_deposits_without_answering_anyone(tmp_path: Path) -> None:
    core, outputs, reports = accountant(tmp_path)
    batch = bytes(core.journal_batch)
    seqs = [codec.unpack_command(batch, i)[codec.SEQ] for i in range(0, len(batch), 256)]
    assert seqs == [1, 2, 3, 4, 5] and core.next_seq == 6
    assert core.ledger.get(ALICE, USDT) == (100_000 * E8, 0) and core.ledger.get(ALICE, BTC) == (2 * E8, 0)
    assert outputs.to_gateway_records == [] and outputs.to_engine_records == [] and reports == []


def test_should_hold_sequence_and_forward_an_order_then_settle_its_new_event(tmp_path: Path) -> None:
    core, outputs, _ = accountant(tmp_path)
    core.command(new_order(5_000_000, 100_000))  # 50000.00 x 1.00000 BTC
    assert core.ledger.get(ALICE, USDT) == (50_000 * E8, 50_000 * E8)
    [(symbol, command)] = outputs.to_engine_records
    assert (symbol, command[codec.SEQ], command[codec.C_TAG]) == (BTCUSDT, 6, 6)
    assert command[codec.TS_HOP : codec.TS_HOP + 4] == (0, 0, 0, 0)  # the stage's port stamps it (test_stage.py)
    assert not core.idle and outputs.to_gateway_records == []

    event = codec.blank_event(Event.NEW, BTCUSDT, 6, 7, ALICE)
    event[codec.E_ORDER_ID], event[codec.E_STATUS] = 1, int(OrderStatus.NEW)
    event[codec.FLAGS] = codec.END
    core.event(BTCUSDT, event)
    answers = outputs.to_gateway_records
    assert [Event(a[codec.E_EVENT]) for a in answers] == [Event.NEW, Event.BALANCE, Event.DONE]
    assert answers[0][codec.E_CLIENT_ORDER_ID].rstrip(b"\0") == b"mine"
    assert [bool(a[codec.FLAGS] & codec.END) for a in answers] == [False, False, True]
    assert core.idle and core.orders.open_orders(ALICE)[0].order_id == 1
    core.check_invariant()
    assert core.invariant.ok and core.invariant.check_now()


def test_should_refuse_what_the_account_cannot_pay_without_sequencing_it(tmp_path: Path) -> None:
    core, outputs, _ = accountant(tmp_path)
    core.command(new_order(5_000_000, 300_000))  # 150000 USDT
    rejected, done = outputs.to_gateway_records
    assert (rejected[codec.E_REJECT_CODE], rejected[codec.E_REJECT_REASON]) == (
        INSUFFICIENT_BALANCE.code,
        reject_reason(INSUFFICIENT_BALANCE.message),
    )
    assert done[codec.FLAGS] & codec.END and core.answers.rejected == 1
    assert outputs.to_engine_records == [] and core.next_seq == 6
