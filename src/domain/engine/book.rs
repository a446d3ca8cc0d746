//! The engine's running figures besides the position: the trading day's baseline (rolled at
//! 17:00 America/Chicago, the CME trade-date boundary), the equity peak, the trailing
//! one-minute order-rate window, and the no-trade folding key.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::domain::calendar::{trade_date, trade_date_start};
use crate::domain::evaluation::NoTrade;
use crate::domain::money;
use crate::domain::positions::Position;
use crate::domain::side::Side;

/// One booked fill of the bot, as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerFill {
    pub side: Side,
    pub quantity: u32,
    pub price: Decimal,
    pub commission: Decimal,
    pub filled_at: DateTime<Utc>,
    /// Its order's decision bar (`decision_bar_at`, else when it was placed): the contract it
    /// traded is the front one then (`domain::contracts`).
    pub decided_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Book {
    /// Trading date of `day_baseline`, and net realized PnL when it began.
    day: Option<NaiveDate>,
    day_baseline: Decimal,
    /// `[start, end)` of `day` (so most bars skip the time-zone conversion).
    day_span: Option<(DateTime<Utc>, DateTime<Utc>)>,
    peak_equity: Decimal,
    /// When each order of the trailing minute was placed, oldest first.
    pub(super) order_times: VecDeque<DateTime<Utc>>,
    /// The position's net realized PnL, and of it what `day` realized: set by [`Book::booked`]
    /// at each change of the position, so marking a bar subtracts nothing.
    realized: Decimal,
    realized_today: Decimal,
}

/// What the gates read at one boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Marks {
    pub equity: Decimal,
    pub daily_pnl: Decimal,
    pub peak_equity: Decimal,
    pub orders_last_minute: u32,
}

/// The order-rate window's length.
const RATE_WINDOW: Duration = Duration::seconds(60);

impl Book {
    /// Replays `fills` into `position`: equity marked at each fill is the best peak the ledger
    /// can prove; the day baseline is the net realized PnL before `now`'s trading date.
    pub(super) fn replay(
        position: &mut Position,
        fills: impl IntoIterator<Item = LedgerFill>,
        now: DateTime<Utc>,
    ) -> Book {
        let today = trade_date(now);
        let mut book = Book {
            day: Some(today),
            ..Book::default()
        };
        for f in fills {
            position.apply_fill(f.side, f.quantity, f.price, f.commission);
            book.peak_equity = book.peak_equity.max(position.total_pnl(f.price));
            if trade_date(f.filled_at) < today {
                book.day_baseline = position.net_realized();
            }
        }
        book.booked(position);
        book
    }

    /// Takes the position's realized figures after a fill (or a restore).
    pub(super) fn booked(&mut self, position: &Position) {
        self.realized = position.net_realized();
        self.realized_today = self.realized - self.day_baseline;
    }

    /// Rolls the day at a new trade date, raises the peak, and drops orders older than the
    /// rate window, as of `now`. `position` is the one last [`Book::booked`].
    pub(super) fn mark(
        &mut self,
        position: &Position,
        unrealized: Decimal,
        now: DateTime<Utc>,
    ) -> Marks {
        debug_assert_eq!(self.realized, position.net_realized(), "booked");
        let realized = self.realized;
        let within = self
            .day_span
            .is_some_and(|(from, to)| from <= now && now < to);
        if !within {
            let today = trade_date(now);
            if self.day != Some(today) {
                self.day = Some(today);
                self.day_baseline = realized;
                self.realized_today = realized - self.day_baseline;
            }
            self.day_span = today
                .succ_opt()
                .map(|next| (trade_date_start(today), trade_date_start(next)));
        }
        let equity = realized + unrealized;
        self.peak_equity = money::max(self.peak_equity, equity);
        while self
            .order_times
            .front()
            .is_some_and(|t| *t <= now - RATE_WINDOW)
        {
            self.order_times.pop_front();
        }
        Marks {
            equity,
            daily_pnl: self.realized_today + unrealized,
            peak_equity: self.peak_equity,
            orders_last_minute: u32::try_from(self.order_times.len()).unwrap_or(u32::MAX),
        }
    }
}

/// Identical consecutive suppressions fold into one trace until a decision comes between.
#[derive(Debug, Clone, Default)]
pub(super) struct Folding {
    pub key: Option<String>,
    /// The next key is built here, so comparing it allocates nothing.
    scratch: String,
}

impl Folding {
    pub(super) fn new(key: Option<String>) -> Self {
        Folding {
            key,
            scratch: String::new(),
        }
    }

    /// Whether `n` folds into the previous suppression; remembers its key.
    pub(super) fn fold(&mut self, n: &NoTrade) -> bool {
        self.fold_key(|key| n.write_fold_key(key))
    }

    /// Whether the key `write` writes equals the previous one; remembers it.
    pub(super) fn fold_key(&mut self, write: impl FnOnce(&mut String)) -> bool {
        self.scratch.clear();
        write(&mut self.scratch);
        match &mut self.key {
            Some(key) if *key == self.scratch => true,
            Some(key) => {
                std::mem::swap(key, &mut self.scratch);
                false
            }
            None => {
                self.key = Some(std::mem::take(&mut self.scratch));
                false
            }
        }
    }
}
