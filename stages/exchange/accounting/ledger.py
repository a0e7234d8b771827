"""Balances per (account, asset): free and locked, int at ASSET_SCALE, and the invariant.

Every change goes through a few primitives that also keep per-asset running
totals, so the invariant can be checked cheaply after every batch:

* ``net[a]`` = deposits - withdrawals of asset ``a``;
* ``total[a]`` = sum over accounts of free + locked (kept incrementally);
* ``locked_total[a]`` = sum of locked, to compare with the order table's holds;
* ``transit[a]``: a match is settled from two records (the maker's, then the
  taker's), each moving one side's assets; what one side paid and the other
  has not yet received sits in ``transit``. It must be 0 whenever no command
  is half settled, which is what proves both records moved the same integers.

``full_sums`` recomputes the sums from the balances themselves: that catches a
balance changed behind the primitives' back (memory corruption, a bug that
bypassed them), which the running totals cannot see.
"""

from __future__ import annotations

from collections.abc import Iterator

from hftpipe.schema.exchange import FEE_ACCOUNT


class Balance:
    __slots__ = ("free", "locked")

    def __init__(self) -> None:
        self.free = 0
        self.locked = 0


class Ledger:
    """Balances and running totals; asset ids are 1..``assets`` (index 0 unused)."""

    def __init__(self, assets: int) -> None:
        self.assets = assets
        self.accounts: dict[int, dict[int, Balance]] = {}
        self.net = [0] * (assets + 1)
        self.total = [0] * (assets + 1)
        self.locked_total = [0] * (assets + 1)
        self.transit = [0] * (assets + 1)
        self.touched: set[tuple[int, int]] = set()
        """(account, asset) pairs changed since the caller last swapped in a fresh set."""
        self.stamp_ns = 0
        """The exchange time of the command being applied (the caller sets it with ``touched``)."""
        self.updated_ns: dict[int, int] = {}
        """Per account, when a balance of it last changed (``account.status``'s ``updateTime``)."""

    # ------------------------------------------------------------------ reading
    def balance(self, account: int, asset: int) -> Balance:
        balances = self.accounts.get(account)
        if balances is None:
            balances = self.accounts[account] = {}
        found = balances.get(asset)
        if found is None:
            found = balances[asset] = Balance()
        return found

    def get(self, account: int, asset: int) -> tuple[int, int]:
        """(free, locked), zeros for an account or asset never seen (creates nothing)."""
        found = self.accounts.get(account, {}).get(asset)
        return (0, 0) if found is None else (found.free, found.locked)

    def free(self, account: int, asset: int) -> int:
        found = self.accounts.get(account, {}).get(asset)
        return 0 if found is None else found.free

    def account_ids(self) -> list[int]:
        return sorted(self.accounts)

    # --------------------------------------------------------------- primitives
    def _touch(self, account: int, asset: int) -> None:
        self.touched.add((account, asset))
        self.updated_ns[account] = self.stamp_ns

    def deposit(self, account: int, asset: int, amount: int) -> None:
        self.balance(account, asset).free += amount
        self.total[asset] += amount
        self.net[asset] += amount
        self._touch(account, asset)

    def withdraw(self, account: int, asset: int, amount: int) -> None:
        """The caller checked free >= amount (live) or the journal says it did (replay)."""
        self.balance(account, asset).free -= amount
        self.total[asset] -= amount
        self.net[asset] -= amount
        self._touch(account, asset)

    def lock(self, account: int, asset: int, amount: int) -> None:
        """free -> locked (a hold placed)."""
        found = self.balance(account, asset)
        found.free -= amount
        found.locked += amount
        self.locked_total[asset] += amount
        self._touch(account, asset)

    def unlock(self, account: int, asset: int, amount: int) -> None:
        """locked -> free (what is left of a hold, or a price-improvement refund)."""
        found = self.balance(account, asset)
        found.locked -= amount
        found.free += amount
        self.locked_total[asset] -= amount
        self._touch(account, asset)

    def pay_locked(self, account: int, asset: int, amount: int) -> None:
        """A fill takes ``amount`` out of the account's locked balance, into transit."""
        found = self.balance(account, asset)
        found.locked -= amount
        self.locked_total[asset] -= amount
        self.total[asset] -= amount
        self.transit[asset] += amount
        self._touch(account, asset)

    def receive(self, account: int, asset: int, amount: int) -> None:
        """A fill credits ``amount`` out of transit to the account's free balance."""
        self.balance(account, asset).free += amount
        self.total[asset] += amount
        self.transit[asset] -= amount
        self._touch(account, asset)

    def settle_side(
        self, account: int, pay_asset: int, paid: int, get_asset: int, received: int, commission: int
    ) -> None:
        """One side of a fill: ``paid`` leaves locked, ``received - commission`` arrives free,
        ``commission`` goes to the fee account."""
        self.pay_locked(account, pay_asset, paid)
        self.receive(account, get_asset, received - commission)
        if commission:
            self.receive(FEE_ACCOUNT, get_asset, commission)

    # ---------------------------------------------------------------- invariant
    def check_running(self, held: list[int], settled: bool) -> list[str]:
        """The cheap check: running totals against each other and the order holds.

        ``settled``: no command is half settled, so transit must be back to 0.
        """
        problems = []
        net, total, locked, transit = self.net, self.total, self.locked_total, self.transit
        for asset in range(1, self.assets + 1):
            if total[asset] + transit[asset] != net[asset] or (settled and transit[asset]):
                problems.append(
                    f"asset {asset}: deposits - withdrawals = {net[asset]}, sum of free + locked = {total[asset]}, "
                    f"in transit = {transit[asset]}"
                )
            if locked[asset] != held[asset]:
                problems.append(f"asset {asset}: sum of locked = {locked[asset]}, sum of open holds = {held[asset]}")
        return problems

    def full_sums(self) -> tuple[list[int], list[int]]:
        """(sum of free + locked, sum of locked) per asset, recomputed from every balance."""
        totals = [0] * (self.assets + 1)
        locked = [0] * (self.assets + 1)
        for balances in self.accounts.values():
            for asset, found in balances.items():
                totals[asset] += found.free + found.locked
                locked[asset] += found.locked
        return totals, locked

    def check_full(self, held: list[int]) -> list[str]:
        """Recompute everything from the balances (``held``: holds recomputed from the orders)."""
        totals, locked = self.full_sums()
        problems = []
        for asset in range(1, self.assets + 1):
            expected = self.net[asset] - self.transit[asset]
            if totals[asset] != expected or totals[asset] != self.total[asset]:
                problems.append(
                    f"asset {asset}: deposits - withdrawals = {self.net[asset]}, recomputed sum of free + locked = "
                    f"{totals[asset]} (running total {self.total[asset]}, in transit {self.transit[asset]})"
                )
            if locked[asset] != held[asset] or locked[asset] != self.locked_total[asset]:
                problems.append(
                    f"asset {asset}: recomputed sum of locked = {locked[asset]} (running {self.locked_total[asset]}), "
                    f"sum of open holds = {held[asset]}"
                )
        return problems

    def iter_balances(self, account: int) -> Iterator[tuple[int, int, int]]:
        """(asset, free, locked) for every asset id, zeros included."""
        balances = self.accounts.get(account, {})
        for asset in range(1, self.assets + 1):
            found = balances.get(asset)
            yield (asset, 0, 0) if found is None else (asset, found.free, found.locked)
