"""Technical indicators for strategies: incremental, O(1) per update, equal to TA-Lib.

Each indicator takes one input per ``update`` and answers its value, or
``None`` for the first ``lookback`` inputs (TA-Lib's lookback). Values equal
TA-Lib 0.8's to the bit where TA-Lib has the indicator, and to well under
1e-9 relative for the deviation-based bands. ``compute`` runs the same
``update`` over whole numpy arrays (NaN during warm-up).

    from hftpipe.strategy.indicators import EMA, RSI

    rsi = RSI(14)
    for price in prices:
        value = rsi.update(price)  # None 14 times, then 0..100
"""

from hftpipe.strategy.indicators.atr import ATR
from hftpipe.strategy.indicators.base import Indicator
from hftpipe.strategy.indicators.bollinger import BandsValue, BollingerBands
from hftpipe.strategy.indicators.macd import MACD, MACDValue
from hftpipe.strategy.indicators.moving import EMA, SMA
from hftpipe.strategy.indicators.rsi import RSI
from hftpipe.strategy.indicators.volatility import RollingVolatility
from hftpipe.strategy.indicators.vwap import VWAP

__all__ = [
    "ATR",
    "EMA",
    "MACD",
    "RSI",
    "SMA",
    "VWAP",
    "BandsValue",
    "BollingerBands",
    "Indicator",
    "MACDValue",
    "RollingVolatility",
]
