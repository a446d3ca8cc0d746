"""NautilusTrader side of scripts/bench-engine-vs-nautilus.sh: the same SMA crossover as
tradeplane's `sma_crossover` (fast/slow simple averages of closes; target +1 when fast > slow,
-1 when fast < slow, keep the position when equal; a reversal is one order of 2), market orders,
$2.25 per contract, over the bars `examples/engine_bench.rs` wrote.

Fills: Nautilus fills a market order sent in `on_bar` at that bar's close; the synthetic bars
open at the previous close, so that is the price tradeplane fills at (the next bar's open,
0 slippage ticks). Like tradeplane's market-session gate, no order is sent on the last bar before
a session closure (its close is outside the session). At each quarterly roll (the CSV's
`last_of_contract`), as tradeplane's backtester does: the position is closed at the old
contract's last close, an order decided on that bar is counted but never fills (the engine
cancels it at the roll), and the averages warm up anew on the next contract's bars.
Usage: python nautilus_crossover.py CSV
"""

import sys
import time
from collections import deque
from decimal import Decimal

import pandas as pd

from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.backtest.models import PerContractFeeModel
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, AssetClass, OmsType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
from nautilus_trader.model.instruments import FuturesContract
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.persistence.wranglers import BarDataWrangler
from nautilus_trader.trading.strategy import Strategy

FAST, SLOW = 10, 30
WARMUP = SLOW + 1  # tradeplane's warmup_bars() for sma_crossover


class CrossConfig(StrategyConfig, frozen=True):
    instrument_id: InstrumentId
    bar_type: BarType


class Cross(Strategy):
    def __init__(self, config: CrossConfig, closing: set[int], rolling: set[int]):
        super().__init__(config)
        self.closing = closing
        self.rolling = rolling
        self.closes: deque[float] = deque(maxlen=SLOW)
        self.seen = 0
        self.position = 0
        self.trades = 0
        self.orders = 0

    def on_start(self):
        self.instrument = self.cache.instrument(self.config.instrument_id)
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar):
        self.seen += 1
        self.closes.append(float(bar.close))
        rolls = bar.ts_event in self.rolling
        if self.seen >= WARMUP and bar.ts_event not in self.closing:
            target = self.target()
            if target is not None and target != self.position:
                if rolls:
                    self.orders += 1  # cancelled at the roll before its fill bar
                else:
                    if self.position != 0:
                        self.trades += 1  # a reversal closes the round trip
                    self.send(target - self.position)
                    self.position = target
        if rolls:
            if self.position != 0:
                self.trades += 1
                self.send(-self.position)
                self.position = 0
            self.closes.clear()
            self.seen = 0

    def target(self):
        window = list(self.closes)
        fast = sum(window[-FAST:]) / FAST
        slow = sum(window) / SLOW
        if fast > slow:
            return 1
        if fast < slow:
            return -1
        return None  # equal: keep the position

    def send(self, delta: int):
        self.orders += 1
        order = self.order_factory.market(
            instrument_id=self.config.instrument_id,
            order_side=OrderSide.BUY if delta > 0 else OrderSide.SELL,
            quantity=Quantity.from_int(abs(delta)),
        )
        self.submit_order(order)


def main(path: str) -> None:
    df = pd.read_csv(path)
    df.index = pd.to_datetime(df["ts_ns"] + 60_000_000_000, unit="ns", utc=True)  # bar close
    closing = set((df["ts_ns"][df["last_in_session"] == 1] + 60_000_000_000).tolist())
    rolling = set((df["ts_ns"][df["last_of_contract"] == 1] + 60_000_000_000).tolist())
    venue = Venue("GLBX")
    es = FuturesContract(
        instrument_id=InstrumentId(Symbol("ESZ9"), venue),
        raw_symbol=Symbol("ESZ9"),
        asset_class=AssetClass.INDEX,
        exchange="XCME",
        currency=USD,
        price_precision=2,
        price_increment=Price.from_str("0.25"),
        multiplier=Quantity.from_int(50),
        lot_size=Quantity.from_int(1),
        underlying="ES",
        activation_ns=pd.Timestamp("2020-01-01", tz="UTC").value,
        expiration_ns=pd.Timestamp("2039-12-31", tz="UTC").value,
        ts_event=0,
        ts_init=0,
    )
    bar_type = BarType.from_str(f"{es.id}-1-MINUTE-LAST-EXTERNAL")
    bars = BarDataWrangler(bar_type, es).process(
        df[["open", "high", "low", "close", "volume"]].astype(float)
    )

    engine = BacktestEngine(
        BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR"), run_analysis=False)
    )
    engine.add_venue(
        venue=venue,
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        starting_balances=[Money(1_000_000, USD)],
        base_currency=USD,
        fee_model=PerContractFeeModel(Money(Decimal("2.25"), USD)),
        bar_execution=True,
    )
    engine.add_instrument(es)
    engine.add_data(bars)
    strategy = Cross(CrossConfig(instrument_id=es.id, bar_type=bar_type), closing, rolling)
    engine.add_strategy(strategy)

    started = time.perf_counter()
    engine.run()
    secs = time.perf_counter() - started

    account = engine.cache.account_for_venue(venue)
    net = account.balance_total(USD).as_decimal() - Decimal(1_000_000)
    fills = len(engine.cache.orders_closed())
    print(
        f"nautilus_trader: {len(bars)} bars in {secs:.3f} s = {len(bars) / secs:.0f} bars/s; "
        f"orders {strategy.orders} filled {fills} closed trades {strategy.trades}; "
        f"net realized {net}"
    )
    engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1])
