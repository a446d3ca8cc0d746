//! The HTTP accept loop, shared by `tradeplane serve` and the test harness (one way to serve):
//! HTTP/1.1 through hyper, with the connection limits axum::serve cannot set.
//!
//! - A connection with no request in progress (fresh, or kept alive between requests) is
//!   closed after `idle_timeout`; once a request's first byte arrives, its headers must be
//!   complete within `header_read_timeout`. While a request is being answered (an event
//!   stream included) neither applies. hyper's own header timer is not used: it also runs
//!   while a kept-alive connection waits, so it could not tell idle from slow.
//! - At most `max_connections` open connections, and `max_per_address` per direct peer
//!   (trusted proxies are exempt: every client behind them shares their address). One more is
//!   accepted, answered `429 RATE_LIMITED` (envelope, fix, trace id, `Retry-After`,
//!   `Connection: close`) and closed, so a client learns why instead of seeing a reset. Those
//!   refusals are themselves bounded (`MAX_REFUSING`, each at most `REFUSAL_DEADLINE`); beyond
//!   that a connection is closed at once, since answering would itself exhaust the handles.
//! - A request head hyper cannot parse is answered with an error envelope instead of hyper's
//!   bare status (`head_refusal`).
//! - Graceful shutdown: on the signal, stop accepting, let in-flight requests finish, close
//!   idle connections, and return when every connection has ended.

use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    io,
    net::{IpAddr, SocketAddr},
    pin::{Pin, pin},
    sync::{Arc, Mutex},
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, Request},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{Notify, watch},
    time::Instant,
};
use tower::ServiceExt;

use super::{ApiError, head_refusal, security_headers};
use crate::{
    config::{Cidr, ConnectionLimits},
    error_code::ErrorCode,
    trace::TraceId,
};

/// Over-cap connections being answered at once; more are closed without an answer.
const MAX_REFUSING: usize = 64;
/// The longest an over-cap connection is kept to read its request and send the refusal.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(2);

/// Serves `app` on `listener` until `shutdown` resolves, then drains (see the module doc).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    trusted_proxies: Vec<Cidr>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let counts = Arc::new(Mutex::new(Counts::default()));
    // Connection tasks watch `signal` to start a graceful close, and hold `done_rx` until
    // they end: `done_tx.closed()` resolves when the last one has.
    let (signal_tx, signal_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(signal_rx);
    });
    let (done_tx, done_rx) = watch::channel(());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file handles, typically: wait instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = signal_tx.closed() => break,
        };
        let ip = peer.ip().to_canonical();
        let exempt = trusted_proxies.iter().any(|net| net.contains(ip));
        match Counts::admit(&counts, ip, exempt, &limits) {
            Admission::Admitted(permit) => {
                let app = app.clone();
                let signal = signal_tx.clone();
                let done = done_rx.clone();
                tokio::spawn(async move {
                    serve_connection(stream, peer, app, limits, signal).await;
                    drop(permit);
                    drop(done);
                });
            }
            Admission::Refused(Some(permit)) => {
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(REFUSAL_DEADLINE, refuse(stream)).await;
                    drop(permit);
                });
            }
            Admission::Refused(None) => drop(stream),
        }
    }
    drop(listener);
    drop(done_rx);
    done_tx.closed().await;
}

/// Open connections, overall and per address, and refusals in progress.
#[derive(Default)]
struct Counts {
    open: usize,
    per_address: HashMap<IpAddr, usize>,
    refusing: usize,
}

enum Admission {
    Admitted(Permit),
    /// Over a cap: answer while holding the permit, or (None) close at once.
    Refused(Option<Permit>),
}

impl Counts {
    fn admit(
        counts: &Arc<Mutex<Counts>>,
        ip: IpAddr,
        exempt: bool,
        limits: &ConnectionLimits,
    ) -> Admission {
        let mut c = counts.lock().unwrap_or_else(|e| e.into_inner());
        let from_address = c.per_address.get(&ip).copied().unwrap_or(0);
        if c.open < limits.max_connections && (exempt || from_address < limits.max_per_address) {
            c.open += 1;
            *c.per_address.entry(ip).or_insert(0) += 1;
            tracing::debug!(%ip, open = c.open, "connection admitted");
            return Admission::Admitted(Permit {
                counts: counts.clone(),
                kind: PermitKind::Connection(ip),
            });
        }
        tracing::warn!(%ip, open = c.open, from_address, "connection over the cap refused");
        if c.refusing >= MAX_REFUSING {
            return Admission::Refused(None);
        }
        c.refusing += 1;
        Admission::Refused(Some(Permit {
            counts: counts.clone(),
            kind: PermitKind::Refusal,
        }))
    }
}

/// A slot in [`Counts`], given back when dropped.
struct Permit {
    counts: Arc<Mutex<Counts>>,
    kind: PermitKind,
}

enum PermitKind {
    Connection(IpAddr),
    Refusal,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        match self.kind {
            PermitKind::Connection(ip) => {
                c.open -= 1;
                if let Some(n) = c.per_address.get_mut(&ip) {
                    *n -= 1;
                    if *n == 0 {
                        c.per_address.remove(&ip);
                    }
                }
            }
            PermitKind::Refusal => c.refusing -= 1,
        }
    }
}

/// Reads one request head and answers it with the refusal, then closes.
async fn refuse(stream: TcpStream) {
    let service = hyper::service::service_fn(|_request: Request<Incoming>| async {
        Ok::<_, Infallible>(refusal().await)
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn refusal() -> Response {
    let trace_id = TraceId::generate();
    // The envelope reads the trace id from the task scope the request middleware sets; this
    // answer never reaches the middleware, so it sets the scope itself.
    let mut response = trace_id
        .clone()
        .scope(async {
            ApiError::new(ErrorCode::RateLimited)
                .message("Too many open connections: this one was refused.")
                .fix("Close idle connections (or reuse one with keep-alive), wait a second, then try again.")
                .header(header::RETRY_AFTER, HeaderValue::from_static("1"))
                .header(header::CONNECTION, HeaderValue::from_static("close"))
                .into_response()
        })
        .await;
    if let Ok(value) = HeaderValue::from_str(trace_id.as_str()) {
        response
            .headers_mut()
            .insert(super::middleware::TRACE_HEADER, value);
    }
    security_headers::insert_fixed(response.headers_mut(), security_headers::API_CSP);
    response
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    signal: watch::Sender<()>,
) {
    let phase = Arc::new(ConnPhase::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        phase: phase.clone(),
        swapped: None,
    });
    let on_request = phase.clone();
    let service = app
        .map_request(move |mut request: Request<Incoming>| {
            on_request.request_started();
            request.extensions_mut().insert(ConnectInfo(peer));
            request.map(Body::new)
        })
        .map_response({
            let phase = phase.clone();
            move |response: Response| {
                // The body is dropped when hyper has sent it (or the client went away).
                let guard = Answering(phase.clone());
                response.map(|body| {
                    Body::new(body.map_frame(move |frame| {
                        let _ = &guard;
                        frame
                    }))
                })
            }
        });
    let mut conn = pin!(
        hyper::server::conn::http1::Builder::new()
            .header_read_timeout(None)
            .serve_connection(io, TowerToHyperService::new(service))
            .with_upgrades()
    );
    let mut closing = false;
    loop {
        let deadline = phase.deadline(&limits);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, %peer, "connection ended with an error");
                }
                return;
            }
            () = phase.changed.notified() => {}
            () = tokio::time::sleep_until(deadline.unwrap_or_else(far_future)), if deadline.is_some() => {
                if phase.deadline(&limits).is_some_and(|d| d <= Instant::now()) {
                    tracing::debug!(%peer, "connection closed: idle or headers too slow");
                    return;
                }
            }
            () = signal.closed(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}

/// Where a connection is in its request cycle, and since when.
struct ConnPhase {
    state: Mutex<(Phase, Instant)>,
    changed: Notify,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No request in progress: the idle timeout runs.
    Idle,
    /// A request's first bytes arrived, its head is not complete: the header timeout runs.
    Head,
    /// This many requests are being answered: no timeout.
    Answering(usize),
}

impl ConnPhase {
    fn new() -> Self {
        ConnPhase {
            state: Mutex::new((Phase::Idle, Instant::now())),
            changed: Notify::new(),
        }
    }

    fn set(&self, f: impl FnOnce(Phase) -> Phase) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let next = f(state.0);
        if next != state.0 {
            *state = (next, Instant::now());
            self.changed.notify_one();
        }
    }

    fn bytes_read(&self) {
        self.set(|p| if p == Phase::Idle { Phase::Head } else { p });
    }

    fn request_started(&self) {
        self.set(|p| match p {
            Phase::Answering(n) => Phase::Answering(n + 1),
            Phase::Idle | Phase::Head => Phase::Answering(1),
        });
    }

    fn response_done(&self) {
        self.set(|p| match p {
            Phase::Answering(n) if n > 1 => Phase::Answering(n - 1),
            _ => Phase::Idle,
        });
    }

    fn answering(&self) -> bool {
        matches!(
            self.state.lock().unwrap_or_else(|e| e.into_inner()).0,
            Phase::Answering(_)
        )
    }

    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        let (phase, since) = *self.state.lock().unwrap_or_else(|e| e.into_inner());
        match phase {
            Phase::Idle => Some(since + limits.idle_timeout),
            Phase::Head => Some(since + limits.header_read_timeout),
            Phase::Answering(_) => None,
        }
    }
}

/// Held by a response body: the connection is idle again once it is gone.
struct Answering(Arc<ConnPhase>);

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.response_done();
    }
}

/// The socket, telling [`ConnPhase`] when request bytes arrive, and swapping the bare answer
/// hyper writes itself for an unparsable request head for an enveloped one (`head_refusal`).
struct Watched {
    inner: TcpStream,
    phase: Arc<ConnPhase>,
    /// The envelope being written instead of hyper's answer, and how much of it is sent.
    swapped: Option<(Vec<u8>, usize)>,
}

impl Watched {
    /// Starts the swap when hyper begins an automatic answer (no request is being answered).
    fn swap_if_automatic(&mut self, first: &[u8]) {
        if self.swapped.is_none()
            && !self.phase.answering()
            && let Some(status) = head_refusal::automatic_status(first)
        {
            self.swapped = Some((head_refusal::envelope_bytes(status), 0));
        }
    }

    /// Writes the rest of the swapped answer; Ready(Ok) when all of it is sent (or none exists).
    fn drive_swap(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some((out, sent)) = &mut self.swapped else {
            return Poll::Ready(Ok(()));
        };
        while *sent < out.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &out[*sent..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.phase.bytes_read();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.swap_if_automatic(buf);
        if this.swapped.is_some() {
            // hyper's own bytes are dropped: the envelope stands in for them.
            return this.drive_swap(cx).map_ok(|()| buf.len());
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.drive_swap(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.drive_swap(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            this.swap_if_automatic(first);
        }
        if this.swapped.is_some() {
            let total = bufs.iter().map(|b| b.len()).sum();
            return this.drive_swap(cx).map_ok(|()| total);
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
