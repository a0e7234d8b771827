"""The built-in strategies, each a plain :class:`~hftpipe.strategy.Strategy` a config names by ``"module:Class"``.

``market_maker:MarketMaker``, ``imbalance:Imbalance``, ``momentum:Momentum``,
``mean_reversion:MeanReversion`` and ``signal_model:SignalModel``; README
"Built-in strategies" lists their params.
"""
