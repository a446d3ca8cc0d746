//! The bar ticks' way to the runners: one task per runtime, one message per runner and tick.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use ractor::ActorRef;
use tokio::sync::broadcast;

use super::{RunnerMsg, epoch_ms};
use crate::domain::timeframe::Timeframe;
use crate::runtime::scheduler::BarTick;

/// Delivers the scheduler's bar ticks to the runners: one task per runtime reads the ticks and
/// sends each to every runner of its timeframe, recording the runner's newest tick first (a
/// runner skips a queued tick older than it). A runner is one actor, not an actor plus a
/// forwarding task of its own: a tick wakes each runner once, not twice, and no broadcast
/// receiver per runner is woken and re-registered every second.
#[derive(Default)]
pub struct TickFanout {
    state: Arc<std::sync::Mutex<FanoutState>>,
}

#[derive(Default)]
struct FanoutState {
    started: bool,
    next: u64,
    by_timeframe: std::collections::HashMap<Timeframe, std::collections::HashMap<u64, TickTarget>>,
}

struct TickTarget {
    runner: ActorRef<RunnerMsg>,
    newest: Arc<AtomicI64>,
}

fn lock_fanout(state: &std::sync::Mutex<FanoutState>) -> std::sync::MutexGuard<'_, FanoutState> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl TickFanout {
    /// Sends `runner` every tick of `timeframe` from now on, until the subscription is
    /// dropped or cancelled. The first subscription starts the fan-out task on `ticks`.
    pub fn subscribe(
        &self,
        ticks: &broadcast::Sender<BarTick>,
        timeframe: Timeframe,
        runner: ActorRef<RunnerMsg>,
        newest: Arc<AtomicI64>,
    ) -> TickSubscription {
        let mut s = lock_fanout(&self.state);
        if !s.started {
            s.started = true;
            tokio::spawn(fan_out(ticks.subscribe(), Arc::downgrade(&self.state)));
        }
        s.next += 1;
        let id = s.next;
        s.by_timeframe
            .entry(timeframe)
            .or_default()
            .insert(id, TickTarget { runner, newest });
        TickSubscription {
            state: Arc::downgrade(&self.state),
            timeframe,
            id,
        }
    }

    /// Runners subscribed to `timeframe`'s ticks.
    pub fn runners(&self, timeframe: Timeframe) -> usize {
        lock_fanout(&self.state)
            .by_timeframe
            .get(&timeframe)
            .map_or(0, std::collections::HashMap::len)
    }
}

/// A runner's place in the [`TickFanout`]; dropping it unsubscribes.
pub struct TickSubscription {
    state: std::sync::Weak<std::sync::Mutex<FanoutState>>,
    timeframe: Timeframe,
    id: u64,
}

impl TickSubscription {
    /// No more ticks.
    pub fn cancel(&self) {
        if let Some(state) = self.state.upgrade()
            && let Some(targets) = lock_fanout(&state).by_timeframe.get_mut(&self.timeframe)
        {
            targets.remove(&self.id);
        }
    }
}

impl Drop for TickSubscription {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// The fan-out task: every tick to every runner of its timeframe (a runner gone is dropped).
async fn fan_out(
    mut ticks: broadcast::Receiver<BarTick>,
    state: std::sync::Weak<std::sync::Mutex<FanoutState>>,
) {
    loop {
        let tick = match ticks.recv().await {
            Ok(tick) => tick,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(skipped = n, "tick fan-out lagged");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(state) = state.upgrade() else { return };
        let mut s = lock_fanout(&state);
        let Some(targets) = s.by_timeframe.get_mut(&tick.timeframe) else {
            continue;
        };
        let at = epoch_ms(tick.bar_at);
        targets.retain(|_, t| {
            t.newest.fetch_max(at, Ordering::AcqRel);
            t.runner.send_message(RunnerMsg::Tick(tick)).is_ok()
        });
    }
}
