"""Parent orders (one per target change) and their execution metrics, logged as
``execution.completed``: shared by the daemon and replay. The arithmetic is in
:mod:`bot.core.execution_metrics`."""

from __future__ import annotations

from decimal import Decimal

from bot.core.execution_metrics import ExecutionReport, ParentOrder, execution_report, is_done
from bot.core.types import Fill, InstrumentSpec
from bot.log import get_logger


class _Parent:
    def __init__(self, parent: ParentOrder):
        self.parent = parent
        self.fills: list[Fill] = []
        self.actions = 0
        self.completed_ts: float | None = None


class ExecutionTracker:
    """Splits a run into parent orders (one per target change) and measures each.

    Fills and order actions are attributed to the instrument's current parent; a parent ends
    when the next target change starts a new one, or at :meth:`close`. Its report is logged as
    ``execution.completed`` when it ends.
    """

    def __init__(self, specs: dict[str, InstrumentSpec]):
        self.specs = specs
        self.reports: list[ExecutionReport] = []
        self.unattributed_fills = 0
        self._current: dict[str, _Parent] = {}
        self._targets: dict[str, Decimal | None] = {}
        self._count = 0
        self._log = get_logger()

    def current(self, symbol: str) -> ParentOrder | None:
        p = self._current.get(symbol)
        return p.parent if p else None

    def on_target(self, symbol: str, now: float, target: Decimal | None, position: Decimal, mid: Decimal | None,
                  deadline_ts: float | None = None) -> ParentOrder | None:
        """Note the instrument's target after a decision; a change starts a parent order (unless
        what is left to do is below the venue's minimum), returned."""
        if target is None or target == self._targets.get(symbol) or mid is None:
            return None
        self._targets[symbol] = target
        self._end(symbol, now, mid)
        if is_done(self.specs[symbol], target - position, mid):
            return None
        self._count += 1
        parent = ParentOrder(f"{symbol}-{self._count}", symbol, now, mid, position, target, deadline_ts)
        self._current[symbol] = _Parent(parent)
        return parent

    def on_fill(self, fill: Fill) -> None:
        p = self._current.get(fill.symbol)
        if p is None:
            self.unattributed_fills += 1
        else:
            p.fills.append(fill)

    def on_action(self, symbol: str) -> None:
        p = self._current.get(symbol)
        if p is not None:
            p.actions += 1

    def check(self, symbol: str, now: float, position: Decimal, mid: Decimal | None) -> None:
        """Mark the current parent complete once what is left is below the minimum order."""
        p = self._current.get(symbol)
        if p is not None and p.completed_ts is None and is_done(self.specs[symbol], p.parent.target - position, mid):
            p.completed_ts = now

    def close(self, now: float, mids: dict[str, Decimal | None]) -> list[ExecutionReport]:
        for symbol in sorted(self._current):
            self._end(symbol, now, mids.get(symbol))
        return self.reports

    def _end(self, symbol: str, now: float, mid: Decimal | None) -> None:
        p = self._current.pop(symbol, None)
        if p is None:
            return
        report = execution_report(p.parent, p.fills, self.specs[symbol], order_actions=p.actions, end_ts=now,
                                  end_mid=mid, completed_ts=p.completed_ts)
        self.reports.append(report)
        self._log.info("execution.completed", **{k: v for k, v in report.as_dict().items() if k != "symbol"},
                       instrument=symbol)
