"""The USD-M futures half of the simulator: matching, conditional (algo) orders, positions,
margin, funding and liquidation, the ``/fapi`` REST endpoints and the futures streams."""
