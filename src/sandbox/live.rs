//! Databento's live gateway, simulated (raw TCP, as the official crate's live client speaks
//! it): the text greeting and CRAM challenge, the client's
//! `auth=<sha256_hex(challenge|key)>-<last 5 of key>|dataset=…|encoding=dbn|…` reply,
//! `success=1|session_id=…` or `success=0|error=…`, subscription lines, `start_session`, then a
//! DBN stream (unsubscription lines `unsubscribe|schema=…|stype_in=…|symbols=…` on the running
//! session stop those symbols' records, acknowledged by a system message `UNSUBSCRIBE_ACK`): metadata, one `SymbolMappingMsg` per resolved symbol, a subscription
//! acknowledgement, `OhlcvMsg` records as the sandbox clock passes each bar's close (the same
//! deterministic bars as the historical endpoint, [`super::ohlcv`]) and heartbeats when quiet.
//!
//! Strict like the historical endpoint: a key other than [`SANDBOX_LIVE_KEY`] fails
//! authentication (CRAM needs the gateway to know the key), an unknown dataset is refused at
//! authentication, and a subscription whose symbols do not resolve (a bare root `ES` as a
//! raw symbol) or whose schema the gateway does not serve gets an `ErrorMsg` record
//! (`SYMBOL_RESOLUTION_FAILED` / `INVALID_SUBSCRIPTION`) instead of data.
//!
//! Faults on command (`POST /_sandbox/faults` with `"vendor": "databento_live"`, [`LiveFault`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use databento::dbn::{
    ErrorCode, ErrorMsg, Metadata, OhlcvMsg, RecordHeader, SType, Schema, SymbolMappingMsg,
    SystemCode, SystemMsg,
    encode::{DbnEncodable, EncodeRecord, dbn::MetadataEncoder, dbn::RecordEncoder},
    rtype,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::clock::Clock;

use super::ohlcv;

/// The one key the simulated gateway accepts (`.env.sandbox`'s `DATABENTO_API_KEY`).
pub const SANDBOX_LIVE_KEY: &str = "db-sandboxsandboxsandboxsandbox0";

/// The dataset the gateway serves.
const DATASET: &str = "GLBX.MDP3";

/// A live-gateway fault, set on command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveFault {
    /// Every open session is closed and new connections are dropped after accept (the
    /// gateway is down); with a count, that many connections.
    Disconnect,
    /// Sessions stay open but send nothing, not even heartbeats.
    Silence,
    /// Bars are held back (heartbeats continue) and sent when the fault is cleared.
    LateBars,
    /// The next `count` bars (default 1) of each subscription are never sent.
    Gap,
    /// The next bar of each subscription is sent twice.
    DuplicateBar,
}

/// The fault in force and how many uses it has left (`None`: until cleared).
type FaultSlot = Arc<Mutex<Option<(LiveFault, Option<u32>)>>>;

/// The gateway's shared control: the fault in force and a wake-up for sessions.
#[derive(Clone, Default)]
pub struct LiveControl {
    fault: FaultSlot,
    changed: Arc<tokio::sync::Notify>,
}

impl LiveControl {
    pub fn set(&self, fault: Option<LiveFault>, count: Option<u32>) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault.map(|f| (f, count));
        self.changed.notify_waiters();
    }

    /// Clears the fault in force if it is `fault`.
    pub fn clear_if(&self, fault: LiveFault) {
        let mut slot = self.fault.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_some_and(|(f, _)| f == fault) {
            *slot = None;
            drop(slot);
            self.changed.notify_waiters();
        }
    }

    pub(super) fn current(&self) -> Option<LiveFault> {
        self.fault
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|(f, _)| f)
    }

    /// Consumes one use of `fault` if it is in force (a counted fault ends at zero).
    fn take(&self, fault: LiveFault) -> bool {
        let mut slot = self.fault.lock().unwrap_or_else(|p| p.into_inner());
        match *slot {
            Some((f, left)) if f == fault => {
                match left {
                    Some(n) if n <= 1 => *slot = None,
                    Some(n) => *slot = Some((f, Some(n - 1))),
                    None => {}
                }
                true
            }
            _ => false,
        }
    }
}

/// Accepts sessions on `listener` until dropped.
pub async fn serve(listener: TcpListener, clock: Clock, control: LiveControl) {
    let mut next_session = 1u64;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        if control.take(LiveFault::Disconnect) {
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let (clock, control) = (clock.clone(), control.clone());
        let id = next_session;
        next_session += 1;
        tokio::spawn(async move {
            if let Err(e) = session(stream, id, clock, control).await {
                tracing::debug!(error = %e, "sandbox live session ended");
            }
        });
    }
}

fn kv(line: &str) -> HashMap<&str, &str> {
    line.trim_end()
        .split('|')
        .filter_map(|p| p.split_once('='))
        .collect()
}

/// The CRAM answer the official client computes for `challenge` with `key`.
pub fn cram_reply(challenge: &str, key: &str) -> String {
    let digest = Sha256::digest(format!("{challenge}|{key}").as_bytes());
    let bucket = &key[key.len().saturating_sub(5)..];
    format!("{}-{bucket}", hex::encode(digest))
}

/// One subscription as the client asked for it.
struct Sub {
    schema: String,
    stype_in: String,
    symbols: Vec<String>,
    start: Option<i64>,
}

/// A subscription line (`schema=…|stype_in=…|symbols=…|…`); `None` for another line (an
/// unsubscription among them).
fn parse_sub(line: &str) -> Option<Sub> {
    if line.starts_with("unsubscribe|") {
        return None;
    }
    let f = kv(line);
    Some(Sub {
        schema: (*f.get("schema")?).to_owned(),
        stype_in: f
            .get("stype_in")
            .copied()
            .unwrap_or("raw_symbol")
            .to_owned(),
        symbols: f
            .get("symbols")
            .map(|s| s.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
        start: f.get("start").and_then(|s| s.parse().ok()),
    })
}

/// An unsubscription line (`unsubscribe|schema=…|stype_in=…|symbols=…|is_last=…`).
fn parse_unsub(line: &str) -> Option<Sub> {
    let rest = line.strip_prefix("unsubscribe|")?;
    parse_sub(rest)
}

/// The bar length of an OHLCV schema the gateway serves, and its record type.
fn served(schema: &str) -> Option<(i64, u8)> {
    match schema {
        "ohlcv-1s" => Some((1, rtype::OHLCV_1S)),
        "ohlcv-1m" => Some((60, rtype::OHLCV_1M)),
        "ohlcv-1h" => Some((3600, rtype::OHLCV_1H)),
        "ohlcv-1d" => Some((86_400, rtype::OHLCV_1D)),
        _ => None,
    }
}

/// Answers one unsubscription: its symbols' streams of its schema end, and an
/// acknowledgement is sent.
fn unsubscribe(
    unsub: &Sub,
    n: usize,
    now: DateTime<Utc>,
    out: &mut Vec<u8>,
    streams: &mut Vec<Stream>,
) -> std::io::Result<()> {
    let seconds = served(&unsub.schema).map(|(s, _)| s);
    streams.retain(|s| Some(s.seconds) != seconds || !unsub.symbols.contains(&s.symbol));
    out.extend(encode(
        &SystemMsg::new(
            nanos(now),
            Some(SystemCode::UnsubscribeAck),
            &format!(
                "Unsubscription request {} for {} data succeeded",
                n, unsub.schema
            ),
        )
        .map_err(io_err)?,
    )?);
    Ok(())
}

/// A resolved (symbol × schema) stream: what to send and when the next bar closes.
struct Stream {
    symbol: String,
    instrument_id: u32,
    seconds: i64,
    rtype: u8,
    next_close: DateTime<Utc>,
    held: Vec<OhlcvMsg>,
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

fn encode(rec: &impl DbnEncodable) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    RecordEncoder::new(&mut buf)
        .encode_record(rec)
        .map_err(io_err)?;
    Ok(buf)
}

fn nanos(t: DateTime<Utc>) -> u64 {
    t.timestamp_nanos_opt()
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0)
}

/// Whether `symbol` resolves for `stype_in` (the historical endpoint's rule): a raw symbol is a
/// listed contract (`ESZ6`), continuous `ES.c.0`, parent `ES.FUT`; a bare root never.
fn resolves(symbol: &str, stype_in: &str) -> bool {
    ohlcv::futures_root(symbol).is_some()
        && match stype_in {
            "continuous" => [".c.", ".n.", ".v."].iter().any(|r| symbol.contains(r)),
            "parent" => symbol.ends_with(".FUT"),
            "raw_symbol" => !symbol.contains('.'),
            _ => false,
        }
}

fn instrument_id(symbol: &str) -> u32 {
    u32::try_from(
        symbol
            .bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31) + u64::from(b))
            % 1_000_000,
    )
    .unwrap_or(1)
}

/// Answers one subscription: an `ErrorMsg` for what does not resolve or is not served, a
/// `SymbolMappingMsg` per symbol and an acknowledgement; the symbols join `streams`.
fn subscribe(
    sub: &Sub,
    n: usize,
    now: DateTime<Utc>,
    out: &mut Vec<u8>,
    streams: &mut Vec<Stream>,
) -> std::io::Result<()> {
    let ts = nanos(now);
    let Some((seconds, rt)) = served(&sub.schema) else {
        let msg = if sub.schema.parse::<Schema>().is_ok() {
            format!("The sandbox gateway does not serve schema {}", sub.schema)
        } else {
            format!("Invalid schema: {}", sub.schema)
        };
        out.extend(encode(&ErrorMsg::new(
            ts,
            Some(ErrorCode::InvalidSubscription),
            &msg,
            true,
        ))?);
        return Ok(());
    };
    let (good, bad): (Vec<&String>, Vec<&String>) =
        sub.symbols.iter().partition(|s| resolves(s, &sub.stype_in));
    if !bad.is_empty() {
        let names: Vec<&str> = bad.iter().map(|s| s.as_str()).collect();
        out.extend(encode(&ErrorMsg::new(
            ts,
            Some(ErrorCode::SymbolResolutionFailed),
            &format!(
                "Failed to resolve symbol(s) for stype_in={}: {}",
                sub.stype_in,
                names.join(",")
            ),
            good.is_empty(),
        ))?);
    }
    if good.is_empty() {
        return Ok(());
    }
    let stype_in: SType = sub.stype_in.parse().map_err(io_err)?;
    let from = sub
        .start
        .map_or(now, DateTime::from_timestamp_nanos)
        .min(now);
    let first_close =
        DateTime::from_timestamp((from.timestamp().div_euclid(seconds) + 1) * seconds, 0)
            .unwrap_or(now);
    for symbol in good {
        // Continuous/parent symbols are served as the walk of the symbol asked for.
        let iid = instrument_id(symbol);
        out.extend(encode(
            &SymbolMappingMsg::new(
                iid,
                ts,
                stype_in,
                symbol,
                SType::RawSymbol,
                symbol,
                ts,
                u64::MAX,
            )
            .map_err(io_err)?,
        )?);
        streams.push(Stream {
            symbol: symbol.clone(),
            instrument_id: iid,
            seconds,
            rtype: rt,
            next_close: first_close,
            held: Vec::new(),
        });
    }
    out.extend(encode(
        &SystemMsg::new(
            ts,
            Some(SystemCode::SubscriptionAck),
            &format!(
                "Subscription request {} for {} data succeeded",
                n, sub.schema
            ),
        )
        .map_err(io_err)?,
    )?);

    Ok(())
}

async fn session(
    stream: TcpStream,
    id: u64,
    clock: Clock,
    control: LiveControl,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let challenge = uuid::Uuid::now_v7().simple().to_string();
    write
        .write_all(format!("lsg_version=0.0.0-sandbox\ncram={challenge}\n").as_bytes())
        .await?;
    let mut line = String::new();
    read.read_line(&mut line).await?;
    let auth = kv(&line);
    let refuse = |error: &str| format!("success=0|error={error}\n");
    let expected = cram_reply(&challenge, SANDBOX_LIVE_KEY);
    if auth.get("auth") != Some(&expected.as_str()) {
        write
            .write_all(refuse("Authentication failed.").as_bytes())
            .await?;
        return Ok(());
    }
    let dataset = auth.get("dataset").copied().unwrap_or_default();
    if dataset != DATASET {
        write
            .write_all(refuse(&format!("Unknown dataset: {dataset}")).as_bytes())
            .await?;
        return Ok(());
    }
    if auth.get("encoding") != Some(&"dbn")
        || auth.get("compression").is_some_and(|c| *c != "none")
        || auth.get("ts_out").is_some_and(|t| *t != "0")
    {
        write
            .write_all(
                refuse("the sandbox gateway serves encoding=dbn, compression=none, ts_out=0")
                    .as_bytes(),
            )
            .await?;
        return Ok(());
    }
    let heartbeat = auth
        .get("heartbeat_interval_s")
        .and_then(|h| h.parse::<u64>().ok())
        .filter(|h| *h > 0)
        .unwrap_or(30);
    write
        .write_all(format!("success=1|session_id={id}\n").as_bytes())
        .await?;

    // Subscriptions until `start_session`.
    let mut subs = Vec::new();
    loop {
        line.clear();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        if line.trim_end() == "start_session" {
            break;
        }
        subs.extend(parse_sub(&line));
    }

    let now = clock.now();
    let metadata = Metadata::builder()
        .dataset(DATASET.to_owned())
        .schema(None)
        .start(nanos(now))
        .stype_in(None)
        .stype_out(SType::InstrumentId)
        .build();
    let mut out = Vec::new();
    MetadataEncoder::new(&mut out)
        .encode(&metadata)
        .map_err(io_err)?;
    let mut streams: Vec<Stream> = Vec::new();
    for (n, sub) in subs.iter().enumerate() {
        subscribe(sub, n + 1, now, &mut out, &mut streams)?;
    }
    write.write_all(&out).await?;

    // The running session's lines come from a task of their own: `read_line` is not
    // cancel-safe, and a line it was reading when a bar or heartbeat won the select below
    // was lost (a subscription sent on the open session near a boundary never streamed).
    // The JoinSet aborts the reader when the session ends.
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let mut reader = tokio::task::JoinSet::new();
    reader.spawn(async move {
        loop {
            let mut line = String::new();
            let read = read.read_line(&mut line).await;
            let end = !matches!(read, Ok(n) if n > 0);
            if lines_tx.send(read.map(|_| line)).is_err() || end {
                return;
            }
        }
    });
    let mut unsubs = 0usize;
    let mut beat = tokio::time::interval(Duration::from_secs(heartbeat));
    beat.tick().await;
    loop {
        let next = streams.iter().map(|s| s.next_close).min();
        let changed = control.changed.notified();
        tokio::select! {
            _ = async {
                match next {
                    Some(at) => { clock.sleep_until(at).await; }
                    None => std::future::pending::<()>().await,
                }
            } => {}
            _ = beat.tick() => {
                match control.current() {
                    Some(LiveFault::Disconnect) => return Ok(()),
                    Some(LiveFault::Silence) => {}
                    _ => write.write_all(&encode(&SystemMsg::heartbeat(nanos(clock.now())))?).await?,
                }
                continue;
            }
            _ = changed => {}
            // A subscription on the running session, or the client hung up.
            line = lines.recv() => {
                let Some(line) = line else { return Ok(()) };
                let line = line?;
                if line.is_empty() { return Ok(()); }
                if let Some(unsub) = parse_unsub(&line) {
                    let mut out = Vec::new();
                    unsubs += 1;
                    unsubscribe(&unsub, unsubs, clock.now(), &mut out, &mut streams)?;
                    write.write_all(&out).await?;
                } else if let Some(sub) = parse_sub(&line) {
                    let mut out = Vec::new();
                    subs.push(sub);
                    let n = subs.len();
                    subscribe(&subs[n - 1], n, clock.now(), &mut out, &mut streams)?;
                    write.write_all(&out).await?;
                }
                continue;
            }
        }
        let fault = control.current();
        match fault {
            Some(LiveFault::Disconnect) => return Ok(()),
            Some(LiveFault::Silence) => {
                // Nothing is sent; the bars of the silence are lost like a dead feed's.
                let now = clock.now();
                for s in &mut streams {
                    while s.next_close <= now {
                        s.next_close += chrono::Duration::seconds(s.seconds);
                    }
                }
                continue;
            }
            _ => {}
        }
        let now = clock.now();
        let mut out = Vec::new();
        for s in &mut streams {
            while s.next_close <= now {
                let close = s.next_close;
                s.next_close += chrono::Duration::seconds(s.seconds);
                let open = close - chrono::Duration::seconds(s.seconds);
                let Some(bar) = ohlcv::bars(&s.symbol, s.seconds, open, close, 1)
                    .into_iter()
                    .next()
                else {
                    continue;
                };
                let px = |p: f64| (p * 1e9).round() as i64;
                let msg = OhlcvMsg {
                    hd: RecordHeader::new::<OhlcvMsg>(s.rtype, 1, s.instrument_id, nanos(bar.ts)),
                    open: px(bar.open),
                    high: px(bar.high),
                    low: px(bar.low),
                    close: px(bar.close),
                    volume: bar.volume,
                };
                if control.take(LiveFault::Gap) {
                    continue;
                }
                if fault == Some(LiveFault::LateBars) {
                    s.held.push(msg);
                    continue;
                }
                for held in s.held.drain(..) {
                    out.extend(encode(&held)?);
                }
                out.extend(encode(&msg)?);
                if control.take(LiveFault::DuplicateBar) {
                    out.extend(encode(&msg)?);
                }
            }
            if fault != Some(LiveFault::LateBars) {
                for held in s.held.drain(..) {
                    out.extend(encode(&held)?);
                }
            }
        }
        if !out.is_empty() {
            write.write_all(&out).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cram_reply_is_sha256_of_challenge_and_key_with_the_bucket() {
        let reply = cram_reply("abc", SANDBOX_LIVE_KEY);
        let (hash, bucket) = reply.split_once('-').unwrap();
        assert_eq!(bucket, "ndbox0".get(1..).unwrap());
        assert_eq!(hash.len(), 64);
        assert_ne!(reply, cram_reply("abd", SANDBOX_LIVE_KEY));
    }

    #[test]
    fn a_bare_root_does_not_resolve_as_a_raw_symbol() {
        assert!(!resolves("ES", "raw_symbol"));
        assert!(resolves("ESZ6", "raw_symbol"));
        assert!(resolves("ES.c.0", "continuous"));
        assert!(!resolves("ES.c.0", "raw_symbol"));
        assert!(resolves("ES.FUT", "parent"));
        // The added roots, M2K's digit included, as Databento resolves them.
        for root in ["M2K", "MYM", "EMD", "NKD"] {
            assert!(resolves(&format!("{root}.c.0"), "continuous"), "{root}");
            assert!(resolves(&format!("{root}Z6"), "raw_symbol"), "{root}");
            assert!(resolves(&format!("{root}.FUT"), "parent"), "{root}");
            assert!(!resolves(root, "raw_symbol"), "{root}");
            assert!(!resolves(&format!("{root}Z26"), "raw_symbol"), "{root}");
        }
    }
}
