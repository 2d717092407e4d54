"""THE command table: every command of every channel, one row each.

To add a command: write ``async def handler(call: Call) -> Reply`` (in a module of this
package; ``call.args``, ``call.ctx`` for settings/database/router, ``call.who`` for audit
texts) and add one row below with its least role, usage and help. Telegram's command menus,
``/help`` and the role check follow from the row; nothing else needs to change.
"""

from __future__ import annotations

from bot.commands import account, backtest, guards, info, market, trading, watching
from bot.commands.table import Command, CommandTable

COMMANDS = CommandTable(
    (
        Command("status", "viewer", "", "Mode, trading on/off, equity, positions", account.status),
        Command(
            "positions", "viewer", "", "Open positions with PnL in quote and R", account.positions
        ),
        Command("orders", "viewer", "", "Working orders on the exchange", account.orders),
        Command(
            "pnl", "viewer", "[today|week|month]", "Realized PnL and the equity curve", account.pnl
        ),
        Command(
            "chart",
            "viewer",
            "SYMBOL [TF]",
            "Chart with structure and zones",
            market.chart,
            picker=market.pick_symbol,
        ),
        Command(
            "signals",
            "viewer",
            "",
            "Recent signals and why each became a decision or not",
            market.signals,
        ),
        Command(
            "decision",
            "viewer",
            "N",
            "A decision's details and chart",
            market.decision,
            picker=market.pick_decision,
        ),
        Command(
            "watch",
            "viewer",
            "SYMBOL [TF]",
            "Chart alerts in this chat: BOS/CHOCH, OB/FVG, retests, regime",
            watching.watch,
            picker=market.pick_symbol,
        ),
        Command(
            "unwatch",
            "viewer",
            "SYMBOL [TF]",
            "Stop chart alerts of a symbol",
            watching.unwatch,
            picker=watching.pick_watched,
        ),
        Command("watches", "viewer", "", "This chat's subscriptions and mutes", watching.watches),
        Command(
            "mute",
            "viewer",
            "EVENT [DURATION] [silent]",
            "Silence an alert type here (fvg 2h; fill silent: no sound)",
            watching.mute,
            picker=watching.pick_event,
        ),
        Command("unmute", "viewer", "[EVENT]", "Lift a mute (all without EVENT)", watching.unmute),
        Command("approve", "trader", "N", "Approve a pending decision", trading.approve),
        Command("reject", "trader", "N", "Reject a pending decision", trading.reject),
        Command(
            "kill",
            "trader",
            "[flatten]",
            "Halt new entries (flatten: also close all)",
            trading.kill,
        ),
        Command("resume", "admin", "", "Resume trading after a kill", trading.resume),
        Command(
            "guards", "viewer", "", "News, funding and volatility guards per symbol", guards.guards
        ),
        Command(
            "guard",
            "admin",
            "NAME off|on [DURATION]",
            "Bypass a guard (news, funding, vol) for up to 24 h, or turn it back on",
            guards.guard,
        ),
        Command(
            "news",
            "viewer",
            "[add START DURATION SEVERITY TITLE]",
            "Next news events and their windows; add one (admin)",
            guards.news,
        ),
        Command(
            "backtest",
            "admin",
            "SYMBOL FROM TO",
            "Backtest a symbol from FROM to TO (UTC dates): progress, then equity.png and figures",
            backtest.backtest,
        ),
        Command("whoami", "viewer", "", "Your ids and role", info.whoami),
        Command("help", "viewer", "", "What you can do here", info.help_, aliases=("start",)),
    )
)
