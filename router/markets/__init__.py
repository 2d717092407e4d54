"""The markets the router trades, each one implementation of
:class:`router.markets.base.Market`: ``spot`` (:mod:`router.markets.spot`) and USD-M
futures (:mod:`router.markets.usdm`). Everything that differs between them — how an entry is
planned and sent, how the position is protected, when it is flat, how it is halted and
reconciled, how the account is valued — lives here; the flow that calls them
(:mod:`router.brackets`, :mod:`router.lifecycle`, :mod:`router.reconcile`, …) never asks
which market it is on.
"""
