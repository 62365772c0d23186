"""Market-data sources: adapters that implement ``data_contracts.ports.MarketDataSource``.

``files`` imports a user's candle files (CSV or Parquet) into CandleFrames and serves imported
candles, in memory or from the Parquet lake.
"""
