//! Databento historical OHLCV through the official `databento` crate (base-URL override for
//! the sandbox). The crate does the HTTP; the call still goes through `ProviderHttp::guard`,
//! so it is rate-limited, time-boxed, redacted and recorded like every other call.

use backon::{ExponentialBuilder, Retryable};
use databento::{
    HistoricalClient,
    dbn::{OhlcvMsg, SType, Schema, UNDEF_PRICE},
    historical::timeseries::GetRangeParams,
};

use rust_decimal::Decimal;
use url::Url;

use super::ProviderClient;
use crate::config::Secret;
use crate::domain::{
    bars::Bar,
    contracts::{Contract, Vendor},
    instruments::ContractSpec,
    provider::Outcome,
};
use crate::integrations::{
    http::{CallKind, bad_response},
    outcome::{Failure, codes},
};

/// `GLBX.MDP3` (CME Globex) is the dataset for ES/NQ futures.
pub const GLBX: &str = "GLBX.MDP3";

pub(crate) fn failure(err: databento::Error) -> Failure {
    match err {
        databento::Error::Api(api) => {
            let status = api.status_code.as_u16();
            let (outcome, code) = match status {
                401 | 403 => (Outcome::InvalidCredentials, codes::INVALID_CREDENTIALS),
                402 => (Outcome::InsufficientPlan, codes::INSUFFICIENT_PLAN),
                429 => (Outcome::RateLimited, codes::RATE_LIMITED),
                500..=599 => (Outcome::ProviderError, codes::PROVIDER_HTTP_5XX),
                _ => (Outcome::ProviderError, codes::PROVIDER_HTTP_4XX),
            };
            // Databento's structured errors name their case (`symbology_invalid_request`).
            let case = api.case.map(|c| format!(" {c}")).unwrap_or_default();
            Failure::new(
                outcome,
                code,
                format!("HTTP {status}{case}: {}", api.message),
            )
            .status(status)
        }
        databento::Error::Http(e) if e.is_timeout() => Failure::new(
            Outcome::Unreachable,
            codes::TIMEOUT,
            e.without_url().to_string(),
        ),
        databento::Error::Http(e) => Failure::new(
            Outcome::Unreachable,
            codes::UNREACHABLE,
            e.without_url().to_string(),
        ),
        databento::Error::BadArgument {
            param_name: "key",
            desc,
        } => Failure::new(
            Outcome::InvalidCredentials,
            codes::INVALID_CREDENTIALS,
            format!("DATABENTO_API_KEY: {desc}"),
        ),
        other => Failure::new(
            Outcome::ProviderError,
            codes::BAD_RESPONSE,
            other.to_string(),
        ),
    }
}

/// `ohlcv-1s`, `ohlcv-1m`, `ohlcv-1h` or `ohlcv-1d` bars of one listed contract in
/// `[from, to)`: `symbols=ESZ6`, `stype_in=raw_symbol` (Databento resolves raw symbols to the
/// exchange's instrument; a bare root such as `ES` does not resolve), form-encoded `POST
/// /v0/timeseries.get_range` with Basic auth, DBN + zstd, as the official crate sends it. DBN
/// prices are fixed-point (1e-9): each is read exactly and snapped onto the root's tick grid.
/// One usage event (`bars.fetch`).
pub async fn ohlcv(
    c: &ProviderClient,
    contract: &Contract,
    schema: Schema,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
    ctx: crate::integrations::http::CallContext,
) -> Result<Vec<Bar>, Failure> {
    let key = c.secret("DATABENTO_API_KEY")?;
    let base = c.base()?;
    let timeout = c.http.timeout();
    let (Some(start), Some(end)) = (nanos(from), nanos(to)) else {
        return Err(bad_response("time range out of bounds"));
    };
    let symbol = contract.spelled_for(Vendor::Databento);
    let spec = contract.root.spec();
    // A 429 or 5xx served no data (so billed nothing) and is retried with jittered backoff
    // while the retry still fits in the first half of the time box (the guard's timeout then
    // never hides the vendor's own answer). A timeout or a broken stream may have been billed
    // and is not retried.
    let started = tokio::time::Instant::now();
    let once = || async {
        {
            let mut client = historical(c, &key, base)?;
            let params = GetRangeParams::builder()
                .dataset(GLBX)
                .symbols(vec![symbol.as_str()])
                .schema(schema)
                .stype_in(SType::RawSymbol)
                .date_time_range((start, end))
                .build();
            let mut decoder = client
                .timeseries()
                .get_range(&params)
                .await
                .map_err(failure)?;
            let mut bars = Vec::new();
            while let Some(rec) = decoder
                .decode_record::<OhlcvMsg>()
                .await
                .map_err(|e| failure(e.into()))?
            {
                let ts = i64::try_from(rec.hd.ts_event)
                    .ok()
                    .map(chrono::DateTime::from_timestamp_nanos)
                    .ok_or_else(|| bad_response("ts_event out of range"))?;
                let px = |p: i64| {
                    price(&spec, p).ok_or_else(|| bad_response("undefined or negative price"))
                };
                bars.push(Bar {
                    ts_open: ts,
                    open: px(rec.open)?,
                    high: px(rec.high)?,
                    low: px(rec.low)?,
                    close: px(rec.close)?,
                    volume: rec.volume,
                });
            }
            Ok(bars)
        }
    };
    c.http
        .guard_for("bars.fetch", CallKind::Read, ctx, async move {
            once.retry(
                ExponentialBuilder::default()
                    .with_min_delay(std::time::Duration::from_millis(200))
                    .with_max_delay(std::time::Duration::from_secs(2))
                    .with_max_times(2)
                    .with_jitter(),
            )
            .when(|f: &Failure| {
                f.is_transient()
                    && matches!(f.outcome, Outcome::RateLimited | Outcome::ProviderError)
            })
            .adjust(|_, delay| delay.filter(|d| started.elapsed() + *d < timeout / 2))
            .await
        })
        .await
}

/// The provider client's Databento historical client, built on first use: its key, base URL
/// and time box are the provider's configuration, fixed for the client's life.
fn historical(c: &ProviderClient, key: &Secret, base: &Url) -> Result<HistoricalClient, Failure> {
    let mut slot = c.databento.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(client) = slot.as_ref() {
        return Ok(client.clone());
    }
    let client = HistoricalClient::builder()
        .key(key.expose())
        .map_err(failure)?
        .base_url(base.clone())
        .http_client_builder(
            reqwest::Client::builder()
                .timeout(c.http.timeout())
                .redirect(reqwest::redirect::Policy::none()),
        )
        .build()
        .map_err(failure)?;
    *slot = Some(client.clone());
    Ok(client)
}

/// A DBN fixed-point price (units of 1e-9) on the tick grid; `None` for `UNDEF_PRICE` or a
/// negative price.
pub(crate) fn price(spec: &ContractSpec, fixed: i64) -> Option<Decimal> {
    (fixed != UNDEF_PRICE).then(|| spec.snap(Decimal::new(fixed, 9)))?
}

fn nanos(t: chrono::DateTime<chrono::Utc>) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.timestamp_nanos_opt()?)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instruments::Symbol;
    use rust_decimal_macros::dec;

    #[test]
    fn fixed_point_prices_land_on_the_grid() {
        let es = Symbol::Es.spec();
        assert_eq!(price(&es, 5_012_250_000_000), Some(dec!(5012.25)));
        assert_eq!(price(&es, 5_012_250_000_001), Some(dec!(5012.25)));
        assert_eq!(
            price(&es, 5_012_250_000_000).map(|p| p.to_string()),
            Some("5012.25".into())
        );
        assert_eq!(price(&es, UNDEF_PRICE), None);
        assert_eq!(price(&es, -250_000_000), None);
    }
}
