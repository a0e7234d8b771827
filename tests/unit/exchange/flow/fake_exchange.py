"""A scripted stand-in for the exchange's WebSocket API, for the flow generator's tests.

:class:`FakeExchange` answers requests the way Binance does (same methods,
result shapes and error codes) from a tiny deterministic model: open orders
per account, an order id counter, a "fill" of the oldest resting order every
``fill_every`` requests and an insufficient-balance reject every
``reject_every`` placements. The same requests always get the same replies.
:func:`serve_fake` puts it behind a real WebSocket server that checks every
signature, like the gateway.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve

from hftpipe.protocols.binance_signing import hmac_signature, signature_payload
from hftpipe.schema.exchange_errors import (
    BAD_SIGNATURE,
    CANCEL_REPLACE_FAILED,
    CANCEL_REPLACE_PARTIALLY_FAILED,
    INSUFFICIENT_BALANCE,
    UNKNOWN_ORDER,
    RejectReason,
)
from stages.exchange.flow.participants import Participant, Request


def _error(reason: RejectReason) -> dict[str, Any]:
    return {"code": int(reason.code), "msg": reason.message}


@dataclass
class FakeExchange:
    fill_every: int = 5
    reject_every: int = 11
    open: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    next_order_id: int = 0
    requests: int = 0
    placements: int = 0
    bad_signatures: int = 0
    log: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def answer(self, account: str, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        self.requests += 1
        self.log.append((account, method, dict(params)))
        if self.requests % self.fill_every == 0:
            self._fill_oldest()
        book = self.open.setdefault(account, {})
        handler = getattr(self, "_" + method.replace(".", "_"))
        reply: dict[str, Any] = handler(book, params)
        return reply

    def _fill_oldest(self) -> None:
        oldest = min(
            ((o["orderId"], account, cid) for account, book in self.open.items() for cid, o in book.items()),
            default=None,
        )
        if oldest:
            del self.open[oldest[1]][oldest[2]]

    def _new(self, book: dict[str, dict[str, Any]], params: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        self.placements += 1
        if self.placements % self.reject_every == 0:
            return 400, _error(INSUFFICIENT_BALANCE)
        self.next_order_id += 1
        order = {
            "symbol": params["symbol"],
            "orderId": self.next_order_id,
            "clientOrderId": params["newClientOrderId"],
            "side": params["side"],
            "type": params["type"],
            "price": params.get("price", "0"),
            "origQty": params.get("quantity", "0"),
            "status": "NEW",
        }
        if params["type"] == "MARKET" or params.get("timeInForce") == "IOC":
            order["status"] = "FILLED"
        else:
            book[order["clientOrderId"]] = order
        return 200, order

    def _order_place(self, book: dict[str, dict[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:
        status, body = self._new(book, params)
        return {"status": status, "result": body} if status == 200 else {"status": status, "error": body}

    def _find(self, book: dict[str, dict[str, Any]], order_id: Any, client_id: Any) -> str | None:
        for cid, order in book.items():
            if cid == client_id or order["orderId"] == order_id:
                return cid
        return None

    def _order_cancel(self, book: dict[str, dict[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:
        cid = self._find(book, params.get("orderId"), params.get("origClientOrderId"))
        if cid is None:
            return {"status": 400, "error": _error(UNKNOWN_ORDER)}
        return {"status": 200, "result": {**book.pop(cid), "status": "CANCELED"}}

    def _order_cancelReplace(self, book: dict[str, dict[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:  # noqa: N802
        cid = self._find(book, params.get("cancelOrderId"), params.get("cancelOrigClientOrderId"))
        if cid is None:
            return {"status": 400, "error": {**_error(CANCEL_REPLACE_FAILED), "data": {"cancelResult": "FAILURE"}}}
        canceled = book.pop(cid)
        status, new = self._new(book, params)
        if status != 200:
            return {"status": 409, "error": _error(CANCEL_REPLACE_PARTIALLY_FAILED)}
        return {
            "status": 200,
            "result": {
                "cancelResult": "SUCCESS",
                "newOrderResult": "SUCCESS",
                "cancelResponse": {**canceled, "status": "CANCELED"},
                "newOrderResponse": new,
            },
        }

    def _openOrders_cancelAll(self, book: dict[str, dict[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:  # noqa: N802
        mine = [cid for cid, o in book.items() if o["symbol"] == params["symbol"]]
        if not mine:
            return {"status": 400, "error": _error(UNKNOWN_ORDER)}
        return {"status": 200, "result": [{**book.pop(cid), "status": "CANCELED"} for cid in mine]}

    def _openOrders_status(self, book: dict[str, dict[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {"status": 200, "result": [o for o in book.values() if o["symbol"] == params["symbol"]]}


def drive(participants: list[Participant], step: Any, exchange: FakeExchange, rounds: int) -> list[tuple[str, Request]]:
    """What the stage does, without sockets: step the market, one request per participant, its reply."""
    from stages.exchange.flow.client import ApiResponse

    sent: list[tuple[str, Request]] = []
    for _ in range(rounds):
        step()
        for participant in participants:
            request = participant.next_request()
            sent.append((participant.account, request))
            participant.on_response(
                request, ApiResponse.from_message(exchange.answer(participant.account, request.method, request.params))
            )
    return sent


async def serve_fake(exchange: FakeExchange, keys: Mapping[str, tuple[str, str]]) -> tuple[Server, int]:
    """``exchange`` behind ws://127.0.0.1:PORT/ws-api/v3; ``keys``: api key -> (account, secret)."""

    async def handler(ws: ServerConnection) -> None:
        async for raw in ws:
            message = json.loads(raw)
            params = dict(message.get("params", {}))
            signature = params.pop("signature", "")
            account, secret = keys.get(params.get("apiKey", ""), ("", ""))
            if not account or hmac_signature(secret, signature_payload(params)) != signature:
                exchange.bad_signatures += 1
                reply: dict[str, Any] = {"status": 400, "error": _error(BAD_SIGNATURE)}
            else:
                for name in ("apiKey", "timestamp", "recvWindow"):
                    params.pop(name, None)
                reply = exchange.answer(account, message["method"], params)
            await ws.send(json.dumps({"id": message["id"], **reply}))

    server = await serve(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1] if server.sockets else 0
    return server, int(port)
