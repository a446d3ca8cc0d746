//! Position and PnL accounting in exact decimals. Realized PnL is gross; commissions accumulate
//! separately so both are visible (`net_realized` = realized − commissions).

use super::instruments::{ContractSpec, Symbol};
use super::side::Side;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub symbol: Symbol,
    /// Signed contracts: + long, − short.
    pub quantity: i64,
    /// Average entry price of the open quantity (0 when flat).
    pub avg_price: Decimal,
    /// USD.
    pub realized_pnl: Decimal,
    /// USD.
    pub commissions: Decimal,
}

impl Position {
    pub fn flat(symbol: Symbol) -> Self {
        Position {
            symbol,
            quantity: 0,
            avg_price: Decimal::ZERO,
            realized_pnl: Decimal::ZERO,
            commissions: Decimal::ZERO,
        }
    }

    /// Books a fill; returns the gross PnL it realized (USD). Adds average the entry price;
    /// reductions realize against it; a fill larger than the position flips it, the remainder
    /// opening at the fill price.
    pub fn apply_fill(
        &mut self,
        side: Side,
        quantity: u32,
        price: Decimal,
        commission: Decimal,
    ) -> Decimal {
        self.commissions += commission;
        let signed = side.sign() * i64::from(quantity);
        if quantity == 0 {
            return Decimal::ZERO;
        }
        let point_value = self.symbol.point_value();
        if self.quantity == 0 || self.quantity.signum() == signed.signum() {
            let held = Decimal::from(self.quantity.abs());
            let added = Decimal::from(quantity);
            self.avg_price = (self.avg_price * held + price * added) / (held + added);
            self.quantity += signed;
            return Decimal::ZERO;
        }
        let closing = self.quantity.abs().min(signed.abs());
        let realized = (price - self.avg_price)
            * Decimal::from(closing)
            * Decimal::from(self.quantity.signum())
            * point_value;
        self.realized_pnl += realized;
        let before = self.quantity;
        self.quantity += signed;
        if self.quantity == 0 {
            self.avg_price = Decimal::ZERO;
        } else if self.quantity.signum() != before.signum() {
            self.avg_price = price;
        }
        realized
    }

    /// Open PnL at `mark`, USD.
    pub fn unrealized(&self, mark: Decimal) -> Decimal {
        open_pnl(
            self.symbol.point_value(),
            self.quantity,
            self.avg_price,
            mark,
        )
    }

    pub fn net_realized(&self) -> Decimal {
        self.realized_pnl - self.commissions
    }

    /// Net realized plus unrealized at `mark`, USD.
    pub fn total_pnl(&self, mark: Decimal) -> Decimal {
        self.net_realized() + self.unrealized(mark)
    }
}

/// Open PnL (USD) of `quantity` signed contracts entered at `avg_price` when the price is
/// `mark`: the one formula, for the runner's position and for stored position rows alike.
pub fn unrealized_pnl(
    spec: &ContractSpec,
    quantity: i64,
    avg_price: Decimal,
    mark: Decimal,
) -> Decimal {
    open_pnl(spec.point_value(), quantity, avg_price, mark)
}

/// [`unrealized_pnl`] with the point value already read (a position marked on every bar
/// builds no contract spec for it).
fn open_pnl(point_value: Decimal, quantity: i64, avg_price: Decimal, mark: Decimal) -> Decimal {
    match quantity {
        // Flat, as a bot is on most bars: what `Decimal` gives for a product with zero.
        0 => Decimal::ZERO,
        // One contract, as most bots hold: one product, the same figure and scale.
        1 => (mark - avg_price) * point_value,
        -1 if mark != avg_price => -(mark - avg_price) * point_value,
        q => (mark - avg_price) * Decimal::from(q) * point_value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn one_contracts_open_pnl_is_the_general_formulas_to_the_digit() {
        let general = |spec: &ContractSpec, q: i64, avg: Decimal, mark: Decimal| {
            (mark - avg) * Decimal::from(q) * spec.point_value()
        };
        let prices = [
            dec!(5000),
            dec!(5000.25),
            dec!(4999.75),
            dec!(5000.125),
            dec!(0),
        ];
        for symbol in Symbol::ALL {
            let spec = symbol.spec();
            for q in [1, -1, 2, -3, 0] {
                for avg in prices {
                    for mark in prices {
                        let (fast, slow) = (
                            unrealized_pnl(&spec, q, avg, mark),
                            general(&spec, q, avg, mark),
                        );
                        assert_eq!(fast, slow);
                        assert_eq!(
                            fast.to_string(),
                            slow.to_string(),
                            "{symbol} {q} {avg} {mark}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn long_add_partial_exit_and_close() {
        // ES, $50/point, $2.25/contract.
        let mut p = Position::flat(Symbol::Es);
        p.apply_fill(Side::Buy, 1, dec!(5000), dec!(2.25));
        p.apply_fill(Side::Buy, 1, dec!(5010), dec!(2.25));
        assert_eq!((p.quantity, p.avg_price), (2, dec!(5005)));
        // Mark 5020: 15 points × 2 × 50 = 1500.
        assert_eq!(p.unrealized(dec!(5020)), dec!(1500));
        // Sell 1 at 5020: realizes 15 × 50 = 750; avg unchanged.
        assert_eq!(
            p.apply_fill(Side::Sell, 1, dec!(5020), dec!(2.25)),
            dec!(750)
        );
        assert_eq!((p.quantity, p.avg_price), (1, dec!(5005)));
        // Sell 1 at 4995: −10 × 50 = −500.
        assert_eq!(
            p.apply_fill(Side::Sell, 1, dec!(4995), dec!(2.25)),
            dec!(-500)
        );
        assert_eq!((p.quantity, p.avg_price), (0, dec!(0)));
        assert_eq!(p.realized_pnl, dec!(250));
        assert_eq!(p.commissions, dec!(9));
        assert_eq!(p.net_realized(), dec!(241));
    }

    #[test]
    fn short_and_flip() {
        // MNQ, $2/point.
        let mut p = Position::flat(Symbol::Mnq);
        p.apply_fill(Side::Sell, 3, dec!(20000.50), dec!(0.5) * dec!(3));
        assert_eq!((p.quantity, p.avg_price), (-3, dec!(20000.50)));
        // Mark 19990.50: short gains 10 × 3 × 2 = 60.
        assert_eq!(p.unrealized(dec!(19990.50)), dec!(60));
        // Buy 5 at 19995.25: closes 3 realizing (20000.50 − 19995.25) × 3 × 2 = 31.50; long 2 @ 19995.25.
        assert_eq!(
            p.apply_fill(Side::Buy, 5, dec!(19995.25), dec!(2.5)),
            dec!(31.50)
        );
        assert_eq!((p.quantity, p.avg_price), (2, dec!(19995.25)));
        assert_eq!(p.unrealized(dec!(20000)), dec!(19.00)); // 4.75 × 2 × 2
        assert_eq!(p.commissions, dec!(4.0));
        assert_eq!(p.total_pnl(dec!(20000)), dec!(46.50)); // 31.50 − 4 + 19
    }

    #[test]
    fn uneven_average_stays_exact_enough() {
        // 1 @ 5000 + 2 @ 5000.25 → avg 5000.1666…; closing all 3 at 5000.25 realizes 0.25 × 50 = 12.5.
        let mut p = Position::flat(Symbol::Es);
        p.apply_fill(Side::Buy, 1, dec!(5000), dec!(0));
        p.apply_fill(Side::Buy, 2, dec!(5000.25), dec!(0));
        let r = p.apply_fill(Side::Sell, 3, dec!(5000.25), dec!(0));
        assert_eq!(r.round_dp(8), dec!(12.5));
    }
}
