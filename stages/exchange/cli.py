"""``hftpipe exchange``: run the Binance-compatible exchange, and administer a running one.

``run`` is ``hftpipe run`` for an exchange config (the supervisor, the same
signals and exit codes) that also says, in one line on stdout, when the
exchange is ready to trade: once its admin socket answers ``status``, which
goes through accounting and so only after the journal replay is done.

The other commands talk to the running exchange over its admin socket
(``<state_dir>/admin.sock``, WebSocket over a unix socket, one JSON request
and reply each; the gateway serves it). They need only the ``[exchange]``
table of the config to find the state directory, so they read that alone and
import no stage. Exit codes: 69 when no exchange answers, 78 for a bad
config, 1 when the exchange refuses the request (its Binance-style
``code msg`` is printed).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import click

from hftpipe.cli.common import (
    config_error,
    config_option,
    fail,
    load_or_exit,
    name_option,
    stop_on_signals,
    supervising,
)
from hftpipe.runtime.config import PipelineConfig, packaged_config_path, read_toml
from hftpipe.runtime.config_paths import config_dir
from hftpipe.runtime.runner import EX_SOFTWARE, EX_UNAVAILABLE
from hftpipe.runtime.stage_process import configure_logging
from hftpipe.runtime.validation import EX_CONFIG, ConfigError
from stages.exchange.protocol.settings import ExchangeSettings
from stages.exchange.protocol.state_dir import prepare_state_dir

EX_REFUSED: Final = 1
ADMIN_TIMEOUT_S: Final = 30.0
"""An admin request waits for accounting, which answers only after the journal replay."""
READY_PROBE_TIMEOUT_S: Final = 2.0
READY_PROBE_INTERVAL_S: Final = 0.1
_AMOUNT: Final = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")


def exchange_config_path() -> Path:
    """The embedded exchange config (``configs/exchange.toml``)."""
    return packaged_config_path("exchange.toml")


def read_exchange_settings(path: str | Path) -> ExchangeSettings:
    """Only the ``[exchange]`` table of a config file (what the admin commands need)."""
    raw = read_toml(path)
    if "exchange" not in raw:
        raise ConfigError("exchange", f"missing: {Path(path)} is not an exchange config (it has no [exchange] table)")
    return ExchangeSettings.from_raw(raw["exchange"], base_dir=config_dir(path))


def _settings_or_exit(path: str | None) -> ExchangeSettings:
    try:
        return read_exchange_settings(path or exchange_config_path())
    except ConfigError as exc:
        config_error(exc)


# ------------------------------------------------------------------------------------ admin socket
class AdminUnavailableError(RuntimeError):
    """No exchange answered on the admin socket."""


class AdminRefusedError(RuntimeError):
    """The exchange answered with an error (Binance-style code and message)."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg


def admin_call(
    socket_path: Path, method: str, params: Mapping[str, Any] | None = None, timeout_s: float = ADMIN_TIMEOUT_S
) -> Any:
    """One admin request; its ``result``, or :class:`AdminRefusedError` / :class:`AdminUnavailableError`."""
    import websockets  # noqa: PLC0415 - keeps `hftpipe stage` start-up light
    from websockets.sync.client import unix_connect  # noqa: PLC0415

    request = {"id": 1, "method": method, "params": dict(params or {})}
    try:
        with unix_connect(str(socket_path), open_timeout=timeout_s, close_timeout=1.0) as ws:
            ws.send(json.dumps(request))
            while True:
                reply = json.loads(ws.recv(timeout=timeout_s))
                if isinstance(reply, dict) and reply.get("id") == 1:
                    break
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise AdminUnavailableError(
            f"no exchange is running (admin socket {socket_path}: {exc.strerror}); "
            "start one with `hftpipe exchange run`"
        ) from exc
    except PermissionError as exc:
        raise AdminUnavailableError(f"cannot open the admin socket {socket_path}: {exc.strerror}") from exc
    except TimeoutError as exc:
        raise AdminUnavailableError(
            f"the exchange did not answer {method!r} on {socket_path} within {timeout_s:g} s"
        ) from exc
    except (OSError, websockets.WebSocketException, ValueError) as exc:
        raise AdminUnavailableError(f"admin socket {socket_path}: {type(exc).__name__}: {exc}") from exc
    if reply.get("status") == 200:
        return reply.get("result")
    error = reply.get("error")
    if not isinstance(error, dict):
        error = {}
    raise AdminRefusedError(int(error.get("code", 0)), str(error.get("msg", f"status {reply.get('status')}")))


def _admin_or_exit(settings: ExchangeSettings, what: str, method: str, params: Mapping[str, Any]) -> Any:
    try:
        return admin_call(settings.admin_socket, method, params)
    except AdminUnavailableError as exc:
        fail(str(exc), EX_UNAVAILABLE)
    except AdminRefusedError as exc:
        fail(f"{what} refused: {exc.code} {exc.msg}", EX_REFUSED)


# ------------------------------------------------------------------------------------ commands
_config_option = config_option("Exchange TOML (default: the embedded configs/exchange.toml).")


def _json_option(func: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print the reply as one JSON object.")(func)


@click.group()
def exchange() -> None:
    """A Binance-compatible exchange on loopback: run it, and administer the running one."""


@exchange.command("run")
@_config_option
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after this many seconds.")
@name_option
def run(config_path: str | None, duration: float | None, name: str | None) -> None:
    """Run the exchange in the foreground; one line on stdout once it is ready to trade.

    Exit 0 after SIGTERM, SIGINT or --duration; 78 for a bad config, 69 if it
    is already running, 70 if it fails to start or fails for good.
    """
    config = load_or_exit(config_path or exchange_config_path(), name)
    settings = settings_of(config)
    if settings is None:
        fail(f"config error: exchange: missing: {config.source} is not an exchange config", EX_CONFIG)
    try:
        prepare_state_dir(settings)
    except ConfigError as exc:
        config_error(exc)
    configure_logging(logging.INFO)
    stop_requested = stop_on_signals()
    probe = ReadyProbe(settings.admin_socket)
    announce = _announcer(probe, ready_line(settings))
    with supervising(config) as supervisor:
        try:
            supervisor.start()
            probe.start()
            supervisor.run(duration, stop_requested, announce)
            supervisor.stop()
        finally:
            probe.stop()
    if supervisor.failure:
        fail(f"exchange stopped: {supervisor.failure}", EX_SOFTWARE)


def settings_of(config: PipelineConfig) -> ExchangeSettings | None:
    """The exchange settings every exchange stage was given (None: not an exchange pipeline)."""
    for stage in config.stages:
        settings = getattr(stage.params, "settings", None)
        if isinstance(settings, ExchangeSettings):
            return settings
    return None


def ready_line(settings: ExchangeSettings) -> str:
    host = settings.host
    market = f"ws://{host}:{settings.market_port}"
    rest_port = settings.rest_port or "<any free port>"  # 0: the gateway picks one
    return (
        f"exchange ready: market data {market} (REST http://{host}:{settings.market_port}/api/v3), "
        f"API ws://{host}:{settings.api_port}/ws-api/v3, REST API http://{host}:{rest_port}/api/v3, "
        f"admin {settings.admin_socket}, "
        f"symbols {' '.join(s.symbol for s in settings.symbols)}"
    )


class ReadyProbe:
    """Asks ``status`` on the admin socket from a thread until it is answered (journal replay done)."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe, name="exchange-ready-probe", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(READY_PROBE_TIMEOUT_S + 1.0)

    def _probe(self) -> None:
        while not self._stop.is_set():
            try:
                admin_call(self.socket_path, "status", timeout_s=READY_PROBE_TIMEOUT_S)
            except (AdminUnavailableError, AdminRefusedError):
                self._stop.wait(READY_PROBE_INTERVAL_S)
                continue
            self.ready.set()
            return


def _announcer(probe: ReadyProbe, line: str) -> Callable[[], None]:
    """The supervisor's tick: print ``line`` once, the first time the probe says ready."""
    announced = False

    def tick() -> None:
        nonlocal announced
        if not announced and probe.ready.is_set():
            announced = True
            click.echo(line)
            sys.stdout.flush()

    return tick


@exchange.group()
def keys() -> None:
    """API keys of the running exchange."""


@keys.command("add")
@_config_option
@click.option("--account", required=True, help="Account name; a new name creates the account.")
@click.option(
    "--ed25519-public-key",
    "ed25519_key",
    type=click.Path(exists=True, dir_okay=False),
    help="PEM file of an Ed25519 public key (default: a new HMAC-SHA256 key with its secret).",
)
@_json_option
def keys_add(config_path: str | None, account: str, ed25519_key: str | None, as_json: bool) -> None:
    """Create an API key (and the account, if new); an HMAC secret is shown only now."""
    settings = _settings_or_exit(config_path)
    params: dict[str, Any] = {"account": account}
    if ed25519_key:
        params["ed25519_public_key"] = Path(ed25519_key).read_text()
    result = _admin_or_exit(settings, "keys add", "keys.add", params)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"account  {result.get('account', account)} (id {result.get('account_id', '?')})")
    click.echo(f"api key  {result.get('api_key')}")
    if result.get("secret"):
        click.echo(f"secret   {result['secret']}  (HMAC-SHA256; shown only now)")


def _amount(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not _AMOUNT.match(value) or not value.strip("0."):
        raise click.BadParameter(f"must be a positive decimal number like 100 or 0.5, got {value!r}")
    return value


def _transfer(config_path: str | None, method: str, account: str, asset: str, amount: str, as_json: bool) -> None:
    settings = _settings_or_exit(config_path)
    params = {"account": account, "asset": asset, "amount": amount}
    result = _admin_or_exit(settings, method, method, params)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(
        f"{method} {amount} {asset} {'to' if method == 'deposit' else 'from'} {account}: "
        f"free {result.get('free')}, locked {result.get('locked')}"
    )


def _transfer_options(func: Any) -> Any:
    for option in reversed(
        (
            _config_option,
            click.option("--account", required=True, help="Account name."),
            click.option("--asset", required=True, help="Asset, e.g. USDT."),
            click.option("--amount", required=True, callback=_amount, help="Decimal amount, e.g. 1000 or 0.5."),
            _json_option,
        )
    ):
        func = option(func)
    return func


@exchange.command("deposit")
@_transfer_options
def deposit(config_path: str | None, account: str, asset: str, amount: str, as_json: bool) -> None:
    """Credit an account (journaled like any order)."""
    _transfer(config_path, "deposit", account, asset, amount, as_json)


@exchange.command("withdraw")
@_transfer_options
def withdraw(config_path: str | None, account: str, asset: str, amount: str, as_json: bool) -> None:
    """Debit an account's free balance."""
    _transfer(config_path, "withdraw", account, asset, amount, as_json)


@exchange.command("balances")
@_config_option
@click.option("--account", help="Only this account (default: every account, the fee account included).")
@_json_option
def balances(config_path: str | None, account: str | None, as_json: bool) -> None:
    """Balances per account and asset, and whether the ledger invariant holds (exit 1 if not)."""
    settings = _settings_or_exit(config_path)
    result = _admin_or_exit(settings, "balances", "balances", {"account": account} if account else {})
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(f"{'account':<24}{'id':>6}  {'asset':<8}{'free':>24}{'locked':>24}")
        for entry in result.get("accounts", []):
            for balance in entry.get("balances", []):
                click.echo(
                    f"{entry.get('account', ''):<24}{entry.get('account_id', ''):>6}  {balance.get('asset', ''):<8}"
                    f"{balance.get('free', ''):>24}{balance.get('locked', ''):>24}"
                )
        click.echo(f"ledger invariant: {'ok' if result.get('invariant_ok') else 'FAILED'}")
    if not result.get("invariant_ok", False):
        fail("the ledger invariant failed: trading is halted", EX_REFUSED)
