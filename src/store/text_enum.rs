//! Enums kept in TEXT columns whose CHECK lists the same names. Each binds as its `as_str()`
//! name and decodes back into the enum, so rows carry the Rust type and a stored value outside
//! the enum is a decode error at the store edge (`sqlx::Error::ColumnDecode`, which the API
//! answers as `INTERNAL`), never a string in the code above.

use crate::domain::{
    access::Role,
    bot::BotStatus,
    breaker::BreakerState,
    evaluation::DecisionType,
    execution::{OrderStatus, OrderType},
    instruments::Symbol,
    provider::Outcome,
    risk::{AutonomyTier, Stage},
    side::{Side, TradeSide},
    timeframe::Timeframe,
};
use crate::store::{
    audit_log::Outcome as AuditOutcome, cme_holidays::DayKind, jobs::JobStatus,
    profit_variables::VariableState, system_events::Severity, usage_events::UsageStatus,
};

/// Implements the sqlx traits for enums with `ALL` and `as_str()`.
macro_rules! text_enum {
    ($($ty:ty),* $(,)?) => {$(
        impl sqlx::Type<sqlx::Postgres> for $ty {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <str as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl sqlx::postgres::PgHasArrayType for $ty {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        impl sqlx::Encode<'_, sqlx::Postgres> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $ty {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let raw = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                <$ty>::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == raw)
                    .ok_or_else(|| format!("`{raw}` is not a known {}", stringify!($ty)).into())
            }
        }
    )*};
}
text_enum!(
    Role,
    BotStatus,
    BreakerState,
    DecisionType,
    OrderStatus,
    OrderType,
    Symbol,
    Outcome,
    AutonomyTier,
    Stage,
    Side,
    TradeSide,
    Timeframe,
    AuditOutcome,
    DayKind,
    JobStatus,
    VariableState,
    Severity,
    UsageStatus,
);
