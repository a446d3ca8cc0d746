//! OpenAPI schemas of the domain's vocabulary. The domain knows nothing of the web, so its
//! enums get their schema here: a string enum of exactly the names each type serializes to
//! (`as_str`, checked against serde below), under the type's own name.

use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};

use crate::domain::{
    access::Role,
    bot::BotStatus,
    breaker::BreakerState,
    evaluation::DecisionType,
    execution::{OrderStatus, OrderType},
    instruments::Symbol,
    provider::{LiveHealth, Outcome},
    risk::{AutonomyTier, Stage},
    side::{Side, TradeSide},
    timeframe::Timeframe,
};

macro_rules! string_enum_schema {
    ($($ty:ty => $description:literal),* $(,)?) => {$(
        impl utoipa::PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some($description))
                    .enum_values(Some(<$ty>::ALL.iter().map(|v| v.as_str())))
                    .into()
            }
        }

        impl utoipa::ToSchema for $ty {}
    )*};
}

string_enum_schema! {
    Role => "A user's role; each includes the rights of the ones before it.",
    BotStatus => "SPEC §2 bot status.",
    BreakerState => "SPEC §2 circuit-breaker state: CLOSED passes calls, OPEN refuses them, HALF_OPEN admits probes.",
    Stage => "SPEC §2 bot stage. Promotion moves one step at a time; demotion any time.",
    Timeframe => "Bar timeframes the clock ticks on.",
    Symbol => "A tradable root symbol with its contract specification.",
    Side => "Order side.",
    TradeSide => "The direction of a round trip (a trade).",
    OrderType => "How an order is priced.",
    OrderStatus => "Where an order stands: PAPER and SHADOW orders are WORKING until filled (SHADOW hypothetically, never sent) or cancelled; RECORDED is what SHADOW orders were before the SHADOW book.",
    DecisionType => "What a decision does to the position.",
    AutonomyTier => "SPEC §2 autonomy tier, ordered LOCKED < SUPERVISED < LIMITED_AUTONOMY < FULL_AUTONOMY.",
    Outcome => "What a verify (or any call) proved, SPEC §4.",
    LiveHealth => "A provider's live health from its breaker and last 15 minutes of calls: CONNECTED only with proof (breaker CLOSED, success rate >= 90%, newest call ok); UNKNOWN without calls.",
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_names<T: serde::Serialize>(all: &[T]) -> Vec<String> {
        all.iter()
            .map(|v| {
                serde_json::to_value(v)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    fn names<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> Vec<String> {
        all.iter().map(|v| as_str(*v).to_owned()).collect()
    }

    #[test]
    fn schema_names_are_the_serialized_names() {
        assert_eq!(serde_names(&Role::ALL), names(&Role::ALL, Role::as_str));
        assert_eq!(
            serde_names(&BotStatus::ALL),
            names(&BotStatus::ALL, BotStatus::as_str)
        );
        assert_eq!(
            serde_names(&BreakerState::ALL),
            names(&BreakerState::ALL, BreakerState::as_str)
        );
        assert_eq!(serde_names(&Stage::ALL), names(&Stage::ALL, Stage::as_str));
        assert_eq!(
            serde_names(&Timeframe::ALL),
            names(&Timeframe::ALL, Timeframe::as_str)
        );
        assert_eq!(serde_names(Symbol::ALL), names(Symbol::ALL, Symbol::as_str));
        assert_eq!(serde_names(&Side::ALL), names(&Side::ALL, Side::as_str));
        assert_eq!(
            serde_names(&TradeSide::ALL),
            names(&TradeSide::ALL, TradeSide::as_str)
        );
        assert_eq!(
            serde_names(&OrderType::ALL),
            names(&OrderType::ALL, OrderType::as_str)
        );
        assert_eq!(
            serde_names(&OrderStatus::ALL),
            names(&OrderStatus::ALL, OrderStatus::as_str)
        );
        assert_eq!(
            serde_names(&DecisionType::ALL),
            names(&DecisionType::ALL, DecisionType::as_str)
        );
        assert_eq!(
            serde_names(&AutonomyTier::ALL),
            names(&AutonomyTier::ALL, AutonomyTier::as_str)
        );
        assert_eq!(
            serde_names(&Outcome::ALL),
            names(&Outcome::ALL, Outcome::as_str)
        );
        assert_eq!(
            serde_names(&LiveHealth::ALL),
            names(&LiveHealth::ALL, LiveHealth::as_str)
        );
    }
}
