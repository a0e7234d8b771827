"""The admin socket: keys, deposits, withdrawals and balances for ``hftpipe exchange ...``.

A WebSocket server on the unix socket ``settings.admin_socket`` (mode 0600 in
a 0700 state directory: only the owner can reach it; nothing listens on TCP).
JSON requests ``{"id", "method", "params"}``; replies ``{"id", "status": 200,
"result"}`` or ``{"id", "status": 400, "error": {"code", "msg"}}``.

Methods (see the exchange spec): ``status``, ``keys.add``, ``deposit``,
``withdraw``, ``balances``. Everything but ``keys.add`` goes through
accounting as a command, so it waits for the journal replay like any client,
and deposits/withdrawals are journaled like orders.

What accounting answers (the records the replies are built from):

* BALANCES (``account`` = id, or ALL_ACCOUNTS): one BALANCE per (account,
  asset) (asset in ``commission_asset``, free in ``qty``, locked in
  ``quote_qty``), then DONE/END with ``status`` 0 when the ledger invariant
  holds, 1 when it failed;
* DEPOSIT / WITHDRAW (``account``, ``asset``, ``qty`` at ASSET_SCALE):
  BALANCE_UPDATE, the account's BALANCE for that asset, DONE/END; or REJECTED
  (e.g. -2010 insufficient balance) then DONE/END.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import orjson
from websockets.asyncio.server import Server, ServerConnection, unix_serve
from websockets.exceptions import ConnectionClosed

from hftpipe.schema.exchange import ALL_ACCOUNTS, ASSET_SCALE, FEE_ACCOUNT, Command, Event
from hftpipe.schema.exchange_codec import CommandRecord, EventRecord
from hftpipe.schema.exchange_errors import ErrorCode
from hftpipe.schema.fixedpoint import FixedPointError, parse_fixed
from stages.exchange.gateway.formatter import Formatter
from stages.exchange.gateway.keys import KeyStore, KeyStoreError
from stages.exchange.gateway.link import AccountingLink, Item
from stages.exchange.protocol.api_error import ApiError
from stages.exchange.protocol.settings import ExchangeSettings

logger = logging.getLogger("hftpipe.gateway.admin")

_BALANCE: Final = int(Event.BALANCE)
_DONE: Final = int(Event.DONE)
_REJECTED: Final = int(Event.REJECTED)
_UNKNOWN: Final = int(ErrorCode.UNKNOWN)


def bind_admin_socket(path: Path) -> socket.socket:
    """A listening unix socket at ``path``, mode 0600, its directory 0700 (created if missing).

    A stale socket file from a killed predecessor is removed; any other file
    there is an error (never delete what is not ours).
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise FileExistsError(f"{path} exists and is not a socket")
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)  # created 0600: no window in which others could connect
    try:
        sock.bind(str(path))
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(previous)
    os.chmod(path, 0o600)
    sock.listen(16)
    sock.setblocking(False)
    return sock


def _bad(message: str) -> ApiError:
    return ApiError(ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED, message)


class AdminServer:
    def __init__(
        self,
        settings: ExchangeSettings,
        keys: KeyStore,
        link: AccountingLink,
        formatter: Formatter,
        timeout_s: float = 120.0,
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.link = link
        self.formatter = formatter
        self.timeout_s = timeout_s
        self.requests = 0
        self._server: Server | None = None

    async def start(self, sock: socket.socket) -> None:
        self._server = await unix_serve(
            self._connection, sock=sock, compression=None, logger=logging.getLogger("hftpipe.gateway.connections")
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _connection(self, websocket: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in websocket:
                reply = await self.dispatch(message)
                await websocket.send(orjson.dumps(reply).decode())

    async def dispatch(self, message: str | bytes) -> dict[str, Any]:
        self.requests += 1
        request_id: Any = None
        try:
            request = orjson.loads(message)
            if not isinstance(request, dict):
                raise _bad("a request is a JSON object")
            request_id = request.get("id")
            method = request.get("method")
            params = request.get("params") or {}
            if not isinstance(params, dict):
                raise _bad("'params' must be an object")
            handler = {
                "status": self.status,
                "keys.add": self.keys_add,
                "deposit": self.deposit,
                "withdraw": self.withdraw,
                "balances": self.balances,
            }.get(method if isinstance(method, str) else "")
            if handler is None:
                raise ApiError(ErrorCode.UNSUPPORTED_OPERATION, f"unknown admin method {method!r}")
            result = await handler(params)
        except ApiError as error:
            return {"id": request_id, "status": 400, "error": {"code": error.code, "msg": error.msg}}
        except orjson.JSONDecodeError as exc:
            return {"id": None, "status": 400, "error": {"code": _UNKNOWN, "msg": f"Malformed request: {exc}"}}
        except Exception as exc:  # an admin bug must not take the gateway down
            logger.exception("admin request failed")
            return {"id": request_id, "status": 400, "error": {"code": _UNKNOWN, "msg": f"{type(exc).__name__}: {exc}"}}
        return {"id": request_id, "status": 200, "result": result}

    async def _ask(self, command: CommandRecord) -> list[Item]:
        future: asyncio.Future[list[Item]] = asyncio.get_running_loop().create_future()

        def on_done(items: list[Item]) -> None:
            if not future.done():
                future.set_result(items)

        def on_timeout() -> None:
            if not future.done():
                future.set_exception(
                    ApiError(ErrorCode.TIMEOUT, "accounting did not answer (journal replay still running?)")
                )

        self.link.send(command, on_done, on_timeout, self.timeout_s)
        return await future

    # -- methods ----------------------------------------------------------------------------------
    async def status(self, params: Mapping[str, Any]) -> dict[str, Any]:
        items = await self._ask(CommandRecord(command=int(Command.BALANCES), account=FEE_ACCOUNT))
        return {"live": True, "invariant_ok": _invariant_ok(items)}

    async def keys_add(self, params: Mapping[str, Any]) -> dict[str, Any]:
        account = params.get("account")
        pem = params.get("ed25519_public_key") or ""
        permissions = params.get("permissions")
        if not isinstance(account, str) or not isinstance(pem, str):
            raise _bad("keys.add takes 'account' (string) and optionally 'ed25519_public_key' (PEM text)")
        if permissions is not None and not (
            isinstance(permissions, list) and all(isinstance(p, str) for p in permissions)
        ):
            raise _bad("'permissions' must be a list of strings")
        try:
            key, _ = self.keys.add_key(account, pem, permissions)
        except KeyStoreError as exc:
            raise _bad(str(exc)) from None
        result = {"api_key": key.api_key, "account": key.account, "account_id": key.account_id}
        if key.is_hmac:
            result["secret"] = key.secret
        return result

    async def deposit(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return await self._transfer(params, Command.DEPOSIT)

    async def withdraw(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return await self._transfer(params, Command.WITHDRAW)

    async def _transfer(self, params: Mapping[str, Any], command: Command) -> dict[str, Any]:
        account_name, asset_name, amount_text = params.get("account"), params.get("asset"), params.get("amount")
        if not all(isinstance(v, str) for v in (account_name, asset_name, amount_text)):
            raise _bad("give 'account', 'asset' and 'amount' (a decimal string)")
        assert isinstance(account_name, str) and isinstance(asset_name, str) and isinstance(amount_text, str)
        account_id = self.keys.account_id(account_name)
        if account_id is None:
            raise _bad(f"unknown account {account_name!r}")
        asset_id = self.settings.asset_id(asset_name)
        if asset_id is None:
            raise _bad(f"unknown asset {asset_name!r} (assets: {', '.join(self.settings.assets)})")
        try:
            amount = parse_fixed(amount_text, ASSET_SCALE)
        except FixedPointError as exc:
            raise _bad(f"amount: {exc}") from None
        if amount <= 0:
            raise _bad("amount must be > 0")
        items = await self._ask(CommandRecord(command=int(command), account=account_id, asset=asset_id, qty=amount))
        rejected = next((record for record, _ in items if record.event == _REJECTED), None)
        if rejected is not None:
            raise ApiError.rejected(rejected.reject_code, rejected.reject_reason)
        balance = next(
            (
                record
                for record, _ in items
                if record.event == _BALANCE and record.account == account_id and record.commission_asset == asset_id
            ),
            None,
        )
        free, locked = (balance.qty, balance.quote_qty) if balance else (0, 0)
        return {
            "account": account_name,
            "asset": asset_name,
            "free": self.formatter.amount(free),
            "locked": self.formatter.amount(locked),
        }

    async def balances(self, params: Mapping[str, Any]) -> dict[str, Any]:
        name = params.get("account")
        if name is not None and not isinstance(name, str):
            raise _bad("'account' must be a string")
        if name is not None:
            account_id = self.keys.account_id(name)
            if account_id is None:
                raise _bad(f"unknown account {name!r}")
            wanted = [account_id]
        else:
            wanted = sorted(self.keys.accounts().values())
        items = await self._ask(
            CommandRecord(command=int(Command.BALANCES), account=wanted[0] if name is not None else ALL_ACCOUNTS)
        )
        by_account: dict[int, list[EventRecord]] = {account: [] for account in wanted}
        for record, _ in items:
            if record.event == _BALANCE and (name is None or record.account == wanted[0]):
                by_account.setdefault(record.account, []).append(record)
        return {
            "accounts": [
                {
                    "account": self.keys.account_name(account),
                    "account_id": account,
                    "balances": self.formatter.balances(records),
                }
                for account, records in sorted(by_account.items())
            ],
            "invariant_ok": _invariant_ok(items),
        }


def _invariant_ok(items: list[Item]) -> bool:
    done = next((record for record, _ in reversed(items) if record.event == _DONE), None)
    return done is not None and done.status == 0
