"""What every Greenlight process uses: settings and secrets, the database and its
migrations, the decision lifecycle, contracts, symbol rules, candle files, the audit log,
and the process plumbing (start-up, logs, traces, metrics, the operations endpoint).

The core imports none of ``engine``, ``bot``, ``router``, ``charts`` or ``sim`` (an
import-linter contract in ``.importlinter``)."""
