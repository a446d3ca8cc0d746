//! Our side of `scripts/bench-supervision-vs-otp.sh` (issue 14): restart latency and idle
//! memory per child of a one_for_one [`Supervisor`] with N idle children, measured the same way
//! as `bench/otp/otp_sup_bench.erl` measures an Erlang/OTP `supervisor`:
//!  1. an empty one_for_one supervisor (intensity 1e9 in 1 s, so it never melts down); RSS
//!     baseline;
//!  2. N children added with `start_child` (permanent, shutdown 5 s); RSS again;
//!  3. warm-up and R measured restarts of random children, one at a time: the victim stamps
//!     the time in a global and fails, its replacement reads the stamp in `pre_start` (its
//!     start function).
//!
//! Events go to the no-op sink (the Erlang side turns logging off). Prints one RESULT line.
//! Run: `cargo run --release -p tradeplane-actors --example supervision_vs_otp -- N R SEED`

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tradeplane_actors::{ChildSpec, Strategy, Supervisor, SupervisorSpec, noop_sink};

const WARMUP: usize = 100;

/// Crash stamp (ns since [`base`], 0 = none): the ETS table of the Erlang side.
static STAMP: AtomicU64 = AtomicU64::new(0);
/// Where replacements report (index, new instance, latency in ns).
static RESTARTED: OnceLock<UnboundedSender<(u32, ActorCell, u64)>> = OnceLock::new();

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    base().elapsed().as_nanos() as u64
}

/// An idle worker whose state is its index.
struct Worker;

/// The only message: stamp the time and fail.
struct Crash;

impl Actor for Worker {
    type Msg = Crash;
    type State = u32;
    type Arguments = u32;

    async fn pre_start(&self, myself: ActorRef<Crash>, i: u32) -> Result<u32, ActorProcessingErr> {
        let t0 = STAMP.swap(0, Ordering::SeqCst);
        if t0 != 0
            && let Some(tx) = RESTARTED.get()
        {
            let _ = tx.send((i, myself.get_cell(), now_ns().saturating_sub(t0)));
        }
        Ok(i)
    }

    async fn handle(
        &self,
        _: ActorRef<Crash>,
        _: Crash,
        _: &mut u32,
    ) -> Result<(), ActorProcessingErr> {
        STAMP.store(now_ns(), Ordering::SeqCst);
        Err("crash".into())
    }
}

fn worker_spec(i: u32) -> ChildSpec {
    ChildSpec::new(format!("w{i}"), move |sup| async move {
        Actor::spawn_linked(None, Worker, i, sup)
            .await
            .map(|(r, _)| r.get_cell())
    })
}

/// Resident set size in bytes, from /proc/self/statm.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// `k` restarts of random children, one at a time; returns the latencies (ns).
async fn restarts(
    k: usize,
    cells: &mut [ActorCell],
    rng: &mut StdRng,
    rx: &mut UnboundedReceiver<(u32, ActorCell, u64)>,
) -> Vec<u64> {
    let mut lats = Vec::with_capacity(k);
    for _ in 0..k {
        let i = rng.random_range(0..cells.len());
        cells[i].send_message(Crash).expect("victim alive");
        let (j, cell, lat) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("restart within 30 s")
            .expect("channel open");
        assert_eq!(j as usize, i, "the victim was replaced");
        cells[i] = cell;
        lats.push(lat);
    }
    lats
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| {
            a.parse()
                .expect("usage: supervision_vs_otp N RESTARTS SEED")
        })
        .collect();
    let [n, r, seed] = args[..] else {
        panic!("usage: supervision_vs_otp N RESTARTS SEED");
    };
    let (n, r) = (n as usize, r as usize);
    let mut rng = StdRng::seed_from_u64(seed);
    let (tx, mut rx) = unbounded_channel();
    RESTARTED.set(tx).expect("set once");
    base();

    let spec =
        SupervisorSpec::new(Strategy::OneForOne).intensity(1_000_000_000, Duration::from_secs(1));
    let (sup, _) = Supervisor::spawn(None, spec, noop_sink(), None)
        .await
        .expect("spawn supervisor");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss0 = rss_bytes();
    let t0 = Instant::now();
    for i in 0..n {
        Supervisor::start_child(&sup, worker_spec(i as u32))
            .await
            .expect("start child");
    }
    let spawn = t0.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss1 = rss_bytes();

    let mut cells: Vec<ActorCell> = Supervisor::which_children(&sup, Duration::from_secs(30))
        .await
        .expect("children")
        .into_iter()
        .map(|c| c.cell.expect("running"))
        .collect();
    restarts(WARMUP, &mut cells, &mut rng, &mut rx).await;
    let mut lats = restarts(r, &mut cells, &mut rng, &mut rx).await;
    lats.sort_unstable();
    let pct = |q: f64| lats[((lats.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
    println!(
        "RESULT system=ours ractor=0.16 children={n} restarts={r} p50_us={:.1} p99_us={:.1} \
         max_us={:.1} rss_b_per_child={} spawn_s={:.2}",
        pct(0.50),
        pct(0.99),
        pct(1.0),
        rss1.saturating_sub(rss0) / n as u64,
        spawn.as_secs_f64()
    );
    let _ = sup.stop_and_wait(None, Some(Duration::from_secs(60))).await;
}
