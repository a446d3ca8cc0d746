//! The telemetry writer against Postgres: batches land, shutdown flushes, and a real outage
//! (a TCP proxy in front of Postgres that drops every connection) fills the bounded buffer,
//! counts what is dropped, and reports it once the database is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use tradeplane::clock::Clock;
use tradeplane::runtime::{TelemetryConfig, TelemetryWriter};
use tradeplane::store::system_events::{NewSystemEvent, Severity};
use tradeplane::store::usage_events::{UsageEvent, UsageStatus};

use crate::support::fixtures::rows;

#[sqlx::test]
async fn batches_land_and_shutdown_flushes_everything(pool: PgPool) {
    let writer = TelemetryWriter::start(pool.clone(), TelemetryConfig::default(), Clock::system());
    let t = writer.handle();
    for i in 0..20_000u32 {
        assert!(t.usage(UsageEvent::new(
            "databento",
            "bars.fetch",
            UsageStatus::Ok,
            i % 50,
            t.clock().now()
        )));
    }
    for i in 0..100 {
        assert!(t.system_event(NewSystemEvent::new(
            Severity::Info,
            "TEST_TELEMETRY",
            format!("event {i}")
        )));
    }
    // Shutdown right away: whatever is still buffered must be written, not lost.
    let stats = writer.shutdown().await;
    assert_eq!(stats.queued, 20_100);
    assert_eq!(stats.written_usage, 20_000);
    assert_eq!(stats.written_system, 100);
    assert_eq!(stats.dropped, 0);
    assert!(!stats.degraded);
    assert_eq!(rows(&pool, "integration_usage_events").await, 20_000);
    assert_eq!(rows(&pool, "system_events").await, 100);
    // After shutdown, events are refused and counted, never silently lost.
    assert!(!t.usage(UsageEvent::new(
        "databento",
        "late",
        UsageStatus::Ok,
        1,
        t.clock().now()
    )));
    assert_eq!(t.stats().dropped, 1);
}

/// A TCP proxy to Postgres that can be cut (refuses new connections and severs live ones).
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let conns = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, conns2) = (up.clone(), conns.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    break;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                conns2.lock().unwrap().push(task.abort_handle());
            }
        });
        Proxy { port, up, conns }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test]
async fn outage_fills_the_bounded_buffer_counts_drops_and_reports_after_recovery(pool: PgPool) {
    let opts = pool.connect_options();
    let upstream = format!("{}:{}", opts.get_host(), opts.get_port());
    assert!(
        !opts.get_host().starts_with('/'),
        "the test needs Postgres over TCP"
    );
    let proxy = Proxy::start(upstream).await;
    let proxied = tradeplane::store::pool_options()
        .max_connections(2)
        .acquire_timeout(Duration::from_millis(300))
        .connect_with((*opts).clone().host("127.0.0.1").port(proxy.port))
        .await
        .unwrap();
    let config = TelemetryConfig {
        capacity: 200,
        batch_max: 50,
        retry_min: Duration::from_millis(20),
        retry_max: Duration::from_millis(100),
        shutdown_deadline: Duration::from_secs(5),
        workers: 2,
        node: None,
    };
    let writer = TelemetryWriter::start(proxied, config, Clock::system());
    let t = writer.handle();

    for i in 0..10 {
        t.usage(UsageEvent::new(
            "polygon",
            "before",
            UsageStatus::Ok,
            i,
            t.clock().now(),
        ));
    }
    until("the first batch", || t.stats().written_usage == 10).await;

    proxy.cut();
    let mut accepted = 0u64;
    for i in 0..1_000 {
        if t.usage(UsageEvent::new(
            "polygon",
            "during",
            UsageStatus::Ok,
            i,
            t.clock().now(),
        )) {
            accepted += 1;
        }
        if i % 100 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    until("the writer to notice the outage", || t.stats().degraded).await;
    let during = t.stats();
    // Bounded: at most the buffer plus one batch per worker was taken; the rest was counted.
    assert!(accepted <= 200 + 2 * 50, "accepted {accepted}");
    assert_eq!(during.dropped, 1_000 - accepted);
    assert!(during.failed_writes >= 1);

    proxy.restore();
    until("recovery", || {
        let s = t.stats();
        !s.degraded && s.written_usage == 10 + accepted
    })
    .await;
    let stats = writer.shutdown().await;
    assert_eq!(stats.written_usage + stats.dropped, 1_010, "{stats:?}");
    assert_eq!(
        rows(&pool, "integration_usage_events").await as u64,
        10 + accepted
    );

    let (severity, dropped): (String, i64) = sqlx::query_as(
        "SELECT severity, (metadata->>'dropped')::bigint FROM system_events WHERE code = 'TELEMETRY_DEGRADED'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(severity, "SEV-2");
    assert_eq!(dropped as u64, stats.dropped);
}
