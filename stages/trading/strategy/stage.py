"""The strategy stage: market data and execution reports in, order intents out.

Thin ring I/O around :class:`~stages.trading.strategy.runner.StrategyRunner`
(one per hosted strategy). Each duty cycle:

1. publishes intents a full intent ring held back (and reads nothing until
   they are out: intents are never dropped);
2. polls every input ring. DEPTH and BBO records are copied into the
   instrument's :class:`~hftpipe.strategy.BookView` and the instrument is
   marked changed; trades, bars and execution reports go to the strategies
   at once, in order; book-state changes mark the book changed;
3. calls ``on_book`` once per changed instrument (``conflate = true``): a
   strategy slower than the market sees the newest book, never a backlog.
   With ``conflate = false`` every book record is handed over in order;
4. moves the clock: in ``clock = "records"`` only record timestamps move it
   (timers fire between records, at the same records every run); in
   ``"live"`` the host's monotonic clock moves it too, so timers fire in a
   quiet market.

Every intent carries the ``ts_origin`` and upstream hop stamps of the record
that caused it; this stage's own stamp is when it took that record in, and
tick-to-intent (now − ``ts_origin``, market-data causes only) goes into the
stage's end-to-end histogram.
"""

from __future__ import annotations

import logging
import struct
import time
from typing import Any, Final

from hftpipe.runtime import Agent, StageContext
from hftpipe.schema import SPECS
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.marketdata import BookState, ControlKind
from hftpipe.schema.records import RecordFlag, RecordType
from hftpipe.schema.trading import NO_TERMS, IntentAction, IntentFlag, OrderSide, OrderType, SynthTerms, TimeInForce
from hftpipe.strategy import BookView
from stages.trading.strategy.runner import StrategyCounters, StrategyRunner
from stages.trading.strategy.settings import ClockMode, StrategySettings, StrategyStageParams

_TRADE: Final = SPECS[RecordType.TRADE].packer.unpack_from
_BAR: Final = SPECS[RecordType.BAR].packer.unpack_from
_REPORT: Final = SPECS[RecordType.EXEC_REPORT].packer.unpack_from
_CONTROL: Final = SPECS[RecordType.CONTROL].packer.unpack_from
_INTENT: Final = SPECS[RecordType.ORDER_INTENT]
_PACK_INTENT: Final = _INTENT.packer.pack_into
_INTENT_SIZE: Final = _INTENT.itemsize
_ORIGIN: Final = struct.Struct("<q")
_KEY: Final = struct.Struct("<H2xI").unpack_from
"""A record's type and instrument id, in one unpack."""
_DEPTH: Final = int(RecordType.DEPTH)
_BBO: Final = int(RecordType.BBO)
_VENUE: Final = int(RecordFlag.VENUE)
_BOOK_STATE: Final = int(ControlKind.BOOK_STATE)
_INTENT_TYPE: Final = int(RecordType.ORDER_INTENT)
_TICK_CAUSED: Final = int(RecordFlag.TICK_CAUSED)


class StrategyStage(Agent):
    Params = StrategyStageParams

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        params: StrategyStageParams = ctx.params
        if params is None:
            raise ValueError(f"stages.{ctx.name}.params: name the strategy (class, id) to run")
        self.params = params
        self.logger = logging.getLogger(f"hftpipe.strategy.{ctx.name}")
        out = ctx.output_port()
        if out.ring.slot_size < _INTENT_SIZE:
            raise ValueError(f"ring {out.ring.name}: ORDER_INTENT records need slot_size >= {_INTENT_SIZE}, "
                             f"it has {out.ring.slot_size}")  # fmt: skip
        self._out = out
        self._claim = out.claim
        self._commit = out.commit
        self._buf = out.buffer
        self._seq = 0
        self._pending: list[tuple[bytes, int]] = []
        self._record_tick_to_intent = ctx.end_to_end.record
        self._polls = [port.poll for port in ctx.inputs.values()]
        self._batch = params.batch
        self._records_clock = params.clock is ClockMode.RECORDS
        self._conflate = params.conflate
        self.epoch = params.epoch or time.time_ns() // 1_000_000
        self.books: dict[int, BookView] = {}
        self.runners: list[StrategyRunner] = []
        self._by_instrument: dict[int, list[StrategyRunner]] = {}
        self._by_id: dict[int, StrategyRunner] = {}
        self._changed: dict[int, BookView] = {}
        for index, settings in enumerate(params.strategies):
            instruments = self._instruments(ctx, settings, index)
            for instrument in instruments:
                if instrument.id not in self.books:
                    self.books[instrument.id] = BookView(instrument)
            counters = StrategyCounters(settings.name, ctx.counters.add)
            runner = StrategyRunner(
                settings,
                {i.id: i for i in instruments},
                self.books,
                self._emit,
                counters,
                self.epoch,
                logging.getLogger(f"hftpipe.strategy.{settings.name}"),
                ctx.errors.record,
            )
            self.runners.append(runner)
            self._by_id[settings.id] = runner
            for instrument in instruments:
                self._by_instrument.setdefault(instrument.id, []).append(runner)

    def _instruments(self, ctx: StageContext, settings: StrategySettings, index: int) -> list[Instrument]:
        declared = list(ctx.instruments)
        key = f"stages.{ctx.name}.params" + (f".strategies[{index}]" if len(self.params.strategies) > 1 else "")
        if not declared:
            raise ValueError(f"{key}.instruments: the pipeline declares no [[instruments]] to trade")
        if not settings.instruments:
            return declared
        found = []
        for name in settings.instruments:
            venue, _, symbol = name.rpartition(":")
            matches = [i for i in declared if i.symbol == symbol and venue in ("", i.venue)]
            if len(matches) != 1:
                known = ", ".join(f"{i.venue}:{i.symbol}" for i in declared)
                why = "is not declared" if not matches else "is ambiguous (prefix it with its venue)"
                raise ValueError(f"{key}.instruments: {name!r} {why} in [[instruments]] ({known})")
            found.append(matches[0])
        return found

    def on_start(self) -> None:
        now = 0 if self._records_clock else time.monotonic_ns()
        for runner in self.runners:
            runner.start(now)

    def do_work(self) -> int:
        if self._pending and not self._flush():
            return 0
        work = 0
        for poll in self._polls:
            work += poll(self._on_record, self._batch)
        if self._changed:
            for view in self._changed.values():
                for runner in self._by_instrument[view.id]:
                    runner.on_book(view)
            self._changed.clear()
        if not self._records_clock:
            now = time.monotonic_ns()
            for runner in self.runners:
                work += runner.advance(now)
        return work

    def on_close(self) -> None:
        for runner in self.runners:
            runner.stop()
        if self._pending:
            self._flush()
        if self._pending:
            self.logger.error("%d intents could not be published at stop", len(self._pending))

    # -- input ---------------------------------------------------------------------------
    def _on_record(self, buf: memoryview, offset: int, now: int) -> None:
        rtype, instrument = _KEY(buf, offset)
        if rtype == _DEPTH:
            view = self.books.get(instrument)
            if view is not None:
                view.take_depth(buf, offset, now)
                self._book_changed(view)
        elif rtype == _BBO:
            view = self.books.get(instrument)
            if view is not None and not view.has_depth and not buf[offset + 2] & _VENUE:
                view.take_bbo(buf, offset, now)
                self._book_changed(view)
        elif rtype == RecordType.TRADE:
            fields = _TRADE(buf, offset)
            runners = self._by_instrument.get(instrument)
            if runners:
                header = bytes(buf[offset : offset + 64])
                for runner in runners:
                    runner.on_trade(fields, header, now)
        elif rtype == RecordType.BAR:
            fields = _BAR(buf, offset)
            runners = self._by_instrument.get(instrument)
            if runners:
                header = bytes(buf[offset : offset + 64])
                for runner in runners:
                    runner.on_bar(fields, header, now)
        elif rtype == RecordType.EXEC_REPORT:
            fields = _REPORT(buf, offset)
            owner = self._by_id.get(fields[21])
            if owner is not None:
                owner.on_report(fields, bytes(buf[offset : offset + 64]), now)
        elif rtype == RecordType.CONTROL:
            fields = _CONTROL(buf, offset)
            view = self.books.get(instrument)
            if fields[10] == _BOOK_STATE and view is not None and view.take_state(BookState(fields[11])):
                self._book_changed(view)
        if self._records_clock:
            origin = _ORIGIN.unpack_from(buf, offset + 24)[0]
            for runner in self.runners:
                runner.advance(origin)

    def _book_changed(self, view: BookView) -> None:
        if self._conflate:
            self._changed[view.id] = view
        else:
            for runner in self._by_instrument[view.id]:
                runner.on_book(view)

    # -- output --------------------------------------------------------------------------
    def _emit(
        self,
        cause: bytes | memoryview,
        taken_ns: int,
        measured: bool,
        instrument: int,
        action: IntentAction,
        side: OrderSide,
        order_type: OrderType,
        tif: TimeInForce,
        flags: IntentFlag,
        price: int,
        qty: int,
        order_seq: int,
        orig_order_seq: int,
        book_update_id: int,
        strategy_id: int,
        epoch: int,
        now: int,
        stop_price: int = 0,
        terms: SynthTerms = NO_TERMS,
    ) -> None:
        self._seq += 1
        offset = self._claim() if not self._pending else -1
        target: Any = self._buf
        if offset < 0:  # the ring is full: hold it, in order, and read nothing until it is out
            target, offset = bytearray(_INTENT_SIZE), 0
        _PACK_INTENT(
            target, offset, _INTENT_TYPE, _TICK_CAUSED if measured else 0, instrument, self._seq, now, 0, 0, 0, 0, 0,
            order_seq, orig_order_seq, price, qty, stop_price, epoch, strategy_id, action, side, order_type, tif, flags,
            book_update_id, *terms,
        )  # fmt: skip
        target[offset + 24 : offset + 64] = cause
        if target is self._buf:
            self._commit(offset, taken_ns)
        else:
            self._pending.append((bytes(target), taken_ns))
        if measured:
            self._record_tick_to_intent(time.monotonic_ns() - _ORIGIN.unpack_from(cause, 0)[0])

    def _flush(self) -> bool:
        """Publish held intents in order; True when none is left."""
        offer = self._out.offer
        while self._pending:
            record, taken = self._pending[0]
            if not offer(record, taken):
                return False
            self._pending.pop(0)
        return True
