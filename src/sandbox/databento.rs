//! Databento's historical API (`timeseries.get_range` as zstd DBN, Basic auth, its error
//! shapes); its live gateway is [`super::live`].

use std::collections::HashMap;

use axum::{
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::faults::late_end;
use super::{Fault, json_reply, ohlcv};

/// Databento authenticates with HTTP Basic: the key as user name, an empty password.
pub(super) fn databento_basic_auth(headers: &HeaderMap) -> bool {
    use base64::Engine as _;
    let Some(encoded) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| pair.strip_suffix(':').map(str::to_owned))
        .is_some_and(|key| !key.is_empty() && !key.contains(':'))
}

/// Databento's structured error: `{"detail": {"case", "message", "docs", "payload"}}` (the
/// shape the official crate reads; case names beyond `symbology_invalid_request` are the
/// simulator's).
fn databento_error(status: StatusCode, case: &str, message: &str, payload: Value) -> Response {
    json_reply(
        status,
        json!({"detail": {"case": case, "message": message, "status_code": status.as_u16(),
            "docs": "https://databento.com/docs/api-reference-historical", "payload": payload}}),
    )
}

pub(super) fn databento_fault(fault: Fault) -> Response {
    match fault {
        Fault::Outage | Fault::Timeout | Fault::Refusal => json_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"detail": "Service temporarily unavailable."}),
        ),
        Fault::RateLimited => {
            let mut res = json_reply(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"detail": "Too many requests."}),
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            res
        }
        Fault::NotAuthorized => databento_error(
            StatusCode::FORBIDDEN,
            "license_not_found",
            "No license for dataset GLBX.MDP3.",
            json!({"dataset": "GLBX.MDP3"}),
        ),
    }
}

/// Databento `timeseries.get_range` (form body; `start`/`end` in UNIX ns or RFC 3339) answered
/// as zstd-compressed DBN OHLCV records, as the official clients request; `late_until`: a
/// `late` fault's newest bar end.
pub(super) fn databento_range(body: &[u8], late_until: Option<DateTime<Utc>>) -> Response {
    use databento::dbn::{
        Compression, Metadata, OhlcvMsg, RecordHeader, SType, Schema,
        encode::{EncodeRecord, dbn::Encoder},
        rtype,
    };
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let detail = |status: StatusCode, msg: &str| json_reply(status, json!({"detail": msg}));
    let time = |k: &str| {
        let raw = form.get(k)?;
        raw.parse::<i64>()
            .ok()
            .map(DateTime::from_timestamp_nanos)
            .or_else(|| raw.parse::<DateTime<Utc>>().ok())
    };
    let (Some(start), Some(end)) = (time("start"), time("end")) else {
        return detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "start and end are required",
        );
    };
    let dataset = form.get("dataset").map_or("", String::as_str);
    if dataset != "GLBX.MDP3" {
        return databento_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "dataset_invalid",
            &format!("Invalid dataset '{dataset}'."),
            json!({"dataset": dataset}),
        );
    }
    let schema_name = form.get("schema").map_or("", String::as_str);
    let (schema, seconds, rt) = match schema_name {
        "ohlcv-1s" => (Schema::Ohlcv1S, 1, rtype::OHLCV_1S),
        "ohlcv-1m" => (Schema::Ohlcv1M, 60, rtype::OHLCV_1M),
        "ohlcv-1h" => (Schema::Ohlcv1H, 3600, rtype::OHLCV_1H),
        "ohlcv-1d" => (Schema::Ohlcv1D, 86_400, rtype::OHLCV_1D),
        other if other.parse::<Schema>().is_ok() => {
            return detail(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the sandbox simulates ohlcv-1s, ohlcv-1m, ohlcv-1h and ohlcv-1d",
            );
        }
        other => {
            return databento_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "schema_invalid",
                &format!("Invalid schema '{other}'."),
                json!({"schema": other}),
            );
        }
    };
    if start >= end {
        return databento_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "data_start_after_end",
            "`start` must be before `end`.",
            json!({"start": start.to_rfc3339(), "end": end.to_rfc3339()}),
        );
    }
    if form.get("compression").map(String::as_str) != Some(Compression::Zstd.as_str()) {
        return detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the sandbox answers compression=zstd",
        );
    }
    let symbol = form.get("symbols").cloned().unwrap_or_default();
    let stype_name = form.get("stype_in").map_or("raw_symbol", String::as_str);
    let stype_in = match stype_name {
        "continuous" => SType::Continuous,
        "parent" => SType::Parent,
        _ => SType::RawSymbol,
    };
    // Symbology: a raw symbol is a listed contract (`ESZ6`), a continuous one `ES.c.0`, a
    // parent `ES.FUT`. A bare root (`ES`) resolves to nothing, one symbol per request here.
    let resolves = ohlcv::futures_root(&symbol).is_some()
        && match stype_in {
            SType::Continuous => [".c.", ".n.", ".v."].iter().any(|r| symbol.contains(r)),
            SType::Parent => symbol.ends_with(".FUT"),
            _ => !symbol.contains('.') && stype_name == "raw_symbol",
        };
    if !resolves {
        return databento_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "symbology_invalid_request",
            "None of the symbols could be resolved",
            json!({"dataset": dataset, "stype_in": stype_name, "symbols": [symbol]}),
        );
    }
    let metadata = Metadata::builder()
        .dataset(dataset.to_owned())
        .schema(Some(schema))
        .start(u64::try_from(start.timestamp_nanos_opt().unwrap_or(0)).unwrap_or(0))
        .end(
            end.timestamp_nanos_opt()
                .and_then(|n| u64::try_from(n).ok())
                .and_then(std::num::NonZeroU64::new),
        )
        .stype_in(Some(stype_in))
        .stype_out(SType::InstrumentId)
        .build();
    let instrument_id = u32::try_from(
        symbol
            .bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31) + u64::from(b))
            % 1_000_000,
    )
    .unwrap_or(1);
    let encoded = (|| -> databento::dbn::Result<Vec<u8>> {
        let mut buf = Vec::new();
        // The zstd frame is finished when the encoder drops.
        let mut encoder = Encoder::with_zstd(&mut buf, &metadata)?;
        let served_end = late_end(end, seconds, late_until);
        for bar in ohlcv::bars(&symbol, seconds, start, served_end, 500_000) {
            let ts = u64::try_from(bar.ts.timestamp_nanos_opt().unwrap_or(0)).unwrap_or(0);
            let px = |p: f64| (p * 1e9).round() as i64;
            encoder.encode_record(&OhlcvMsg {
                hd: RecordHeader::new::<OhlcvMsg>(rt, 1, instrument_id, ts),
                open: px(bar.open),
                high: px(bar.high),
                low: px(bar.low),
                close: px(bar.close),
                volume: bar.volume,
            })?;
        }
        drop(encoder);
        Ok(buf)
    })();
    match encoded {
        Ok(bytes) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            bytes,
        )
            .into_response(),
        Err(e) => detail(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
