"""The journal file, and rebuilding the exchange from it through fresh stages and engines."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hftpipe.schema import exchange_codec as codec
from hftpipe.schema.exchange import Command
from hftpipe.schema.records import RecordFlag
from stages.exchange.accounting.journal import HEADER_SIZE, RECORD_SIZE, Journal, JournalError
from stages.exchange.accounting.replay import Phase
from tests.unit.exchange.accounting.harness import (
    ALICE,
    BOB,
    BTC,
    BTCUSDT,
    BUY,
    CAROL,
    E8,
    ETH,
    ETHUSDT,
    SELL,
    USDT,
    Harness,
    MakeExchange,
    kinds,
)


def command(seq: int) -> bytes:
    fields = codec.blank_command()
    fields[codec.SEQ] = seq
    fields[codec.C_COMMAND] = int(Command.DEPOSIT)
    fields[codec.C_ACCOUNT], fields[codec.C_ASSET], fields[codec.C_QTY] = 1, 1, seq
    return codec.pack_command(*fields)


def journal_with(path: Path, seqs: list[int]) -> None:
    journal = Journal(path, fsync=False)
    journal.open()
    journal.append(b"".join(command(s) for s in seqs))
    journal.close()


def test_should_create_the_journal_0600_in_a_0700_state_dir(tmp_path: Path) -> None:
    path = tmp_path / "state" / "journal.bin"
    journal = Journal(path, fsync=True)
    journal.open()
    journal.append(command(1) + command(2))
    assert journal.count == 2
    journal.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.stat().st_size == HEADER_SIZE + 2 * RECORD_SIZE
    assert path.read_bytes()[:8] == b"HFTPJRNL"


def test_should_truncate_a_torn_trailing_record_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "journal.bin"
    journal_with(path, [1, 2, 3])
    with path.open("ab") as f:
        f.write(command(4)[:100])
    warnings: list[str] = []
    journal = Journal(path, fsync=False, warn=warnings.append)
    journal.open()
    assert journal.count == 3
    assert path.stat().st_size == HEADER_SIZE + 3 * RECORD_SIZE
    assert len(warnings) == 1 and "torn trailing record (100 of 256 bytes) after record 3" in warnings[0]
    journal.append(command(4))  # and appends go on where the torn record was
    assert codec.unpack_command(journal.read(3, 1), 0)[codec.SEQ] == 4
    journal.close()


def test_should_refuse_a_journal_with_a_sequence_gap(tmp_path: Path) -> None:
    path = tmp_path / "journal.bin"
    journal_with(path, [1, 2, 4])
    with pytest.raises(JournalError, match=r"record 3 has seq 4, expected 3; the journal is not continuous"):
        Journal(path, fsync=False).open()


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"NOTAJRNL" + bytes(56), "not a journal"),
        (b"HFTPJRNL" + (2).to_bytes(4, "little") + (256).to_bytes(4, "little") + bytes(48), "format version 2"),
        (b"HFTPJRNL" + (1).to_bytes(4, "little") + (128).to_bytes(4, "little") + bytes(48), "128-byte records"),
    ],
)
def test_should_refuse_a_journal_with_a_bad_header(tmp_path: Path, header: bytes, message: str) -> None:
    path = tmp_path / "journal.bin"
    path.write_bytes(header)
    with pytest.raises(JournalError, match=message):
        Journal(path, fsync=False).open()


def test_should_refuse_a_second_writer(tmp_path: Path) -> None:
    path = tmp_path / "journal.bin"
    first = Journal(path, fsync=False)
    first.open()
    with pytest.raises(JournalError, match="locked by another process"):
        Journal(path, fsync=False).open()
    first.close()


def test_should_journal_a_batch_before_forwarding_any_of_it(
    make_exchange: MakeExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = make_exchange()
    h.start_live()
    ring = h.engines[BTCUSDT].commands
    seen: list[tuple[int, int]] = []
    append = Journal.append

    def spy(self: Journal, data: bytes | bytearray) -> None:
        seen.append((len(data) // RECORD_SIZE, ring.producer_position))
        append(self, data)

    monkeypatch.setattr(Journal, "append", spy)
    before = ring.producer_position
    h.send(Command.NEW_ORDER, BTCUSDT, account=ALICE, side=BUY, price=5_000_000, qty=1_000)
    h.send(Command.NEW_ORDER, BTCUSDT, account=ALICE, side=BUY, price=5_000_000, qty=2_000)
    h.step()
    assert seen == [(2, before)]  # one write for the batch, while nothing had been forwarded
    assert ring.producer_position == before + 2
    data = h.stage.journal.read(h.stage.journal.count - 2, 2)
    assert [codec.unpack_command(data, i * RECORD_SIZE)[codec.SEQ] for i in range(2)] == [6, 7]
    assert [codec.unpack_command(data, i * RECORD_SIZE)[codec.C_TAG] for i in range(2)] == [6, 7]


def _trade_a_while(h: Harness) -> None:
    """A mix of everything that changes state, in two symbols."""
    h.order(BTCUSDT, ALICE, BUY, "59000", "0.5", client_order_id="a1")
    h.order(BTCUSDT, ALICE, BUY, "58000", "0.3", client_order_id="a2")
    h.order(BTCUSDT, BOB, SELL, "58000", "0.6", client_order_id="b1")
    h.order(BTCUSDT, BOB, SELL, "61000", "1", client_order_id="b2")
    h.request(Command.NEW_ORDER, BTCUSDT, account=ALICE, side=BUY, order_type=1, quote_qty=6100 * 10**7)
    h.request(Command.DEPOSIT, account=CAROL, asset=USDT, qty=5000 * E8)
    h.order(ETHUSDT, CAROL, BUY, "3000", "1", client_order_id="c1")
    h.order(ETHUSDT, BOB, SELL, "2900", "0.4")
    h.request(Command.CANCEL_REPLACE, ETHUSDT, account=CAROL, orig_client_order_id="c1", side=BUY, price=310_000,
              qty=10_000, client_order_id="c1")  # fmt: skip
    h.request(Command.WITHDRAW, account=BOB, asset=ETH, qty=E8)
    h.request(Command.CANCEL, BTCUSDT, account=ALICE, orig_client_order_id="a2")
    h.request(Command.NEW_ORDER, BTCUSDT, account=BOB, side=SELL, order_type=1, qty=10_000)


def test_should_rebuild_identical_balances_and_orders_from_the_journal(make_exchange: MakeExchange) -> None:
    h = make_exchange(capacity=4, batch=3)  # small rings: replay must wait for room
    h.start_live()
    _trade_a_while(h)
    before = h.snapshot()
    count = h.stage.journal.count
    assert before[1]  # some orders are still open
    assert h.balance(0, USDT)[0] > 0  # and commissions were paid

    again = make_exchange(capacity=4, batch=3)  # fresh shared memory, stage and engines; same state dir
    again.step()
    assert again.stage.phase is Phase.REPLAY
    again.run()
    assert again.stage.live
    assert again.snapshot() == before
    assert again.received == []  # replayed events never reach the gateway
    assert again.stage.journal.count == count  # no genesis the second time
    seen = [f for engine in again.engines.values() for f in engine.seen]
    assert seen and all(f[codec.FLAGS] & RecordFlag.REPLAY for f in seen)
    # The books came back too: the same open orders rest at the same engine ids.
    for sid in (BTCUSDT, ETHUSDT):
        old = [(o.order_id, o.price, o.cum_qty) for o in h.engines[sid].engine.open_orders()]
        new = [(o.order_id, o.price, o.cum_qty) for o in again.engines[sid].engine.open_orders()]
        assert old == new
    # And it goes on trading where it stopped.
    answer = again.order(BTCUSDT, ALICE, BUY, "61000", "0.1")
    assert kinds(answer)[:2] == ["NEW", "TRADE"]
    assert again.stage.journal.count == count + 1


def test_should_not_read_the_gateway_before_the_replay_is_done(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.start_live()
    _trade_a_while(h)
    again = make_exchange()
    request_id = again.send(Command.ACCOUNT_STATUS, account=ALICE)
    again.step()  # replay started: the engines have not answered, so the gateway ring waits
    assert again.to_acct.size() == 1 and again.stage.phase is Phase.REPLAY
    again.run()
    assert kinds(again.answer(request_id))[-1] == "DONE"


def test_should_issue_genesis_deposits_once_as_journaled_commands(make_exchange: MakeExchange) -> None:
    h = make_exchange()
    h.step()
    assert h.stage.live and h.stage.journal.count == 5
    assert h.balance(BOB, ETH) == (10 * E8, 0) and h.balance(ALICE, BTC) == (2 * E8, 0)
    h.run()
    assert h.received == []  # nobody asked for them


def test_should_fail_to_start_on_a_journal_with_a_gap(make_exchange: MakeExchange, tmp_path: Path) -> None:
    journal_with(tmp_path / "state" / "journal.bin", [1, 3])
    h = make_exchange(start=False)
    with pytest.raises(JournalError, match="record 2 has seq 3"):
        h.invoker.start()


def test_should_not_replay_while_the_pipeline_is_not_running(make_exchange: MakeExchange) -> None:
    from hftpipe.substrate.control_layout import PipelineState

    h = make_exchange()
    h.owned.control.set_state(PipelineState.STARTING)
    h.run()
    assert h.stage.phase is Phase.START and h.stage.journal.count == 0
    h.owned.control.set_state(PipelineState.RUNNING)
    h.run()
    assert h.stage.live
    assert os.path.getsize(h.settings.journal_path) == HEADER_SIZE + 5 * RECORD_SIZE


def test_should_stop_the_stage_when_the_journal_cannot_be_written(
    make_exchange: MakeExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = make_exchange()
    h.start_live()

    def full(self: Journal, data: bytes | bytearray) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Journal, "append", full)
    h.send(Command.NEW_ORDER, BTCUSDT, account=ALICE, side=BUY, price=5_000_000, qty=1_000)
    assert h.invoker.invoke() == 0
    assert h.engines[BTCUSDT].commands.size() == 0  # nothing that is not journaled was forwarded
    assert h.from_acct.size() == 0  # and nobody was told it was accepted
    h.invoker.invoke()
    assert h.invoker.errors.consecutive == 2  # every later cycle fails: the runner fails the stage
    assert any("journal write" in e and "No space left" in e for e in h.errors)
