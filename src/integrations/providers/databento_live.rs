//! Databento's live gateway through the official crate's live client (`databento::LiveClient`):
//! CRAM authentication, one `raw_symbol` subscription per listed contract × OHLCV schema, DBN
//! records decoded into bars. Each vendor interaction (connect, subscribe, unsubscribe) goes
//! through `ProviderHttp::guard` (rate limit, time box, redaction) and is one usage event
//! (`live.connect`, `live.subscribe`, `live.unsubscribe`); the records that follow are not
//! calls. The unsubscribe is the crate's `LiveClient::unsubscribe` (databento 0.64:
//! `unsubscribe|schema=…|stype_in=…|symbols=…|is_last=1`, acknowledged by a system message
//! `UNSUBSCRIBE_ACK`).
//!
//! The gateway is `DATABENTO_LIVE_ADDR` (`host:port`; Databento's own is
//! `glbx-mdp3.lsg.databento.com:13000`, the sandbox's `127.0.0.1:9402`); without it there is no
//! live stream and bars are read from the historical API as before.

use std::collections::HashMap;
use std::time::Duration;

use databento::{
    LiveClient,
    dbn::{ErrorMsg, OhlcvMsg, RecordRef, SType, Schema, SymbolMappingMsg, SystemMsg, rtype},
    live::{Subscription, Unsubscription},
};

use super::ProviderClient;
use super::databento::{GLBX, failure, price};
use crate::domain::{bars::Bar, contracts::Contract, contracts::Vendor, timeframe::Timeframe};
use crate::integrations::{
    http::{CallContext, CallKind, bad_response},
    outcome::Failure,
};

/// The live gateway's address, when a live stream is configured.
pub fn live_addr(c: &ProviderClient) -> Option<String> {
    c.optional("DATABENTO_LIVE_ADDR")
}

/// Databento's live schema for a timeframe (`None`: no such schema, e.g. 5m/15m, which stay
/// on the historical API).
pub const fn live_schema(tf: Timeframe) -> Option<Schema> {
    match tf {
        Timeframe::S1 => Some(Schema::Ohlcv1S),
        Timeframe::M1 => Some(Schema::Ohlcv1M),
        Timeframe::H1 => Some(Schema::Ohlcv1H),
        Timeframe::D1 => Some(Schema::Ohlcv1D),
        Timeframe::M5 | Timeframe::M15 => None,
    }
}

/// What the stream delivered.
#[derive(Debug, Clone)]
pub enum LiveEvent {
    /// A bar of a subscribed series (`ts_open` is the record's `ts_event`).
    Bar {
        contract: Contract,
        timeframe: Timeframe,
        bar: Bar,
    },
    /// A heartbeat, a subscription acknowledgement or another system message.
    System(String),
    /// A gateway error record (`SYMBOL_RESOLUTION_FAILED`, …).
    Error(String),
}

/// One authenticated session with the gateway.
pub struct LiveSession {
    client: LiveClient,
    /// The symbol each subscription asked for → its contract.
    asked: HashMap<String, Contract>,
    /// instrument_id → contract (from the gateway's symbol mappings).
    instruments: HashMap<u32, Contract>,
}

fn timeframe_of(rt: u8) -> Option<Timeframe> {
    match rt {
        rtype::OHLCV_1S => Some(Timeframe::S1),
        rtype::OHLCV_1M => Some(Timeframe::M1),
        rtype::OHLCV_1H => Some(Timeframe::H1),
        rtype::OHLCV_1D => Some(Timeframe::D1),
        _ => None,
    }
}

/// The session's auth options as the client sends them: `heartbeat_interval_s` so a silent
/// gateway is noticed (the crate gives up after the interval plus 5 s).
fn builder_heartbeat(heartbeat: Duration) -> time::Duration {
    time::Duration::seconds(i64::try_from(heartbeat.as_secs().max(1)).unwrap_or(30))
}

/// Connects and authenticates (CRAM) with the gateway. One usage event `live.connect`.
pub async fn connect(
    c: &ProviderClient,
    heartbeat: Duration,
    ctx: CallContext,
) -> Result<LiveSession, Failure> {
    let key = c.secret("DATABENTO_API_KEY")?;
    let Some(addr) = live_addr(c) else {
        return Err(Failure::new(
            crate::domain::provider::Outcome::Unverifiable,
            "NOT_CONFIGURED",
            "DATABENTO_LIVE_ADDR is not set",
        ));
    };
    c.http
        .guard_for("live.connect", CallKind::Read, ctx, async move {
            let client = LiveClient::builder()
                .key(key.expose())
                .map_err(failure)?
                .dataset(GLBX)
                .heartbeat_interval(builder_heartbeat(heartbeat))
                .addr(addr.as_str())
                .await
                .map_err(failure)?
                .build()
                .await
                .map_err(failure)?;
            Ok(LiveSession {
                client,
                asked: HashMap::new(),
                instruments: HashMap::new(),
            })
        })
        .await
}

impl LiveSession {
    /// Subscribes to `contract`'s bars of `timeframe` as a listed contract
    /// (`schema=ohlcv-1m|stype_in=raw_symbol|symbols=ESZ6`; a bare root is never sent). One
    /// usage event `live.subscribe`.
    pub async fn subscribe(
        &mut self,
        c: &ProviderClient,
        contract: Contract,
        timeframe: Timeframe,
        ctx: CallContext,
    ) -> Result<(), Failure> {
        let Some(schema) = live_schema(timeframe) else {
            return Err(bad_response("no live schema for this timeframe"));
        };
        let symbol = contract.spelled_for(Vendor::Databento);
        self.asked.insert(symbol.clone(), contract);
        let client = &mut self.client;
        c.http
            .guard_for("live.subscribe", CallKind::Read, ctx, async move {
                let sub = Subscription::builder()
                    .symbols(symbol)
                    .schema(schema)
                    .stype_in(SType::RawSymbol)
                    .build();
                client.subscribe(sub).await.map_err(failure)
            })
            .await
    }

    /// Unsubscribes from `contract`'s bars of `timeframe` on the running session
    /// (`unsubscribe|schema=ohlcv-1m|stype_in=raw_symbol|symbols=ESZ6|is_last=1`): the gateway
    /// stops streaming them. One usage event `live.unsubscribe`.
    pub async fn unsubscribe(
        &mut self,
        c: &ProviderClient,
        contract: Contract,
        timeframe: Timeframe,
        ctx: CallContext,
    ) -> Result<(), Failure> {
        let Some(schema) = live_schema(timeframe) else {
            return Err(bad_response("no live schema for this timeframe"));
        };
        let symbol = contract.spelled_for(Vendor::Databento);
        let client = &mut self.client;
        c.http
            .guard_for("live.unsubscribe", CallKind::Read, ctx, async move {
                let unsub = Unsubscription::builder()
                    .symbols(symbol)
                    .schema(schema)
                    .stype_in(SType::RawSymbol)
                    .build();
                client.unsubscribe(unsub).await.map_err(failure)
            })
            .await
    }

    /// Starts the session (the gateway then streams records).
    pub async fn start(&mut self) -> Result<(), Failure> {
        self.client.start().await.map(|_| ()).map_err(failure)
    }

    /// The next record of interest; `Ok(None)` when the gateway closed the session. A silent
    /// gateway (no heartbeat within the interval plus 5 s) is an error.
    pub async fn next(&mut self) -> Result<Option<LiveEvent>, Failure> {
        loop {
            let Some(rec) = self.client.next_record().await.map_err(failure)? else {
                return Ok(None);
            };
            if let Some(event) = decode(&mut self.instruments, &self.asked, rec)? {
                return Ok(Some(event));
            }
        }
    }
}

fn decode(
    instruments: &mut HashMap<u32, Contract>,
    asked: &HashMap<String, Contract>,
    rec: RecordRef<'_>,
) -> Result<Option<LiveEvent>, Failure> {
    if let Some(m) = rec.get::<SymbolMappingMsg>() {
        let asked_for = m
            .stype_in_symbol()
            .map_err(|e| bad_response(&e.to_string()))?;
        if let Some(contract) = asked.get(asked_for) {
            instruments.insert(m.hd.instrument_id, *contract);
        }
        return Ok(None);
    }
    if let Some(e) = rec.get::<ErrorMsg>() {
        return Ok(Some(LiveEvent::Error(
            e.err().unwrap_or("<unreadable error>").to_owned(),
        )));
    }
    if let Some(s) = rec.get::<SystemMsg>() {
        return Ok(Some(LiveEvent::System(
            s.msg().unwrap_or("<unreadable>").to_owned(),
        )));
    }
    let Some(bar) = rec.get::<OhlcvMsg>() else {
        return Ok(None);
    };
    let (Some(timeframe), Some(contract)) = (
        timeframe_of(bar.hd.rtype),
        instruments.get(&bar.hd.instrument_id),
    ) else {
        return Ok(None);
    };
    let spec = contract.root.spec();
    let ts = i64::try_from(bar.hd.ts_event)
        .ok()
        .map(chrono::DateTime::from_timestamp_nanos)
        .ok_or_else(|| bad_response("ts_event out of range"))?;
    let px = |p: i64| price(&spec, p).ok_or_else(|| bad_response("undefined or negative price"));
    Ok(Some(LiveEvent::Bar {
        contract: *contract,
        timeframe,
        bar: Bar {
            ts_open: ts,
            open: px(bar.open)?,
            high: px(bar.high)?,
            low: px(bar.low)?,
            close: px(bar.close)?,
            volume: bar.volume,
        },
    }))
}
