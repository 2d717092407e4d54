"""The replay both markets share: candle files on the market clock (``player``, ``clock``),
interval detection and resampling (``resample``) and several intervals per market
(``intervals``)."""
