//! Stopping children: ask, wait up to the child's timeout, then kill.

use std::time::{Duration, Instant};

use ractor::ActorCell;

use super::spec::Shutdown;

/// Exit reason the supervisor gives children it stops; counts as a normal exit.
pub(crate) const SHUTDOWN_REASON: &str = "shutdown";

/// How a child ended when the supervisor stopped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// Exited on request within its timeout.
    Gracefully,
    /// Killed, after `after` (zero for [`Shutdown::Brutal`]).
    Killed { after: Duration },
}

// Bound on waiting for a kill to land; a kill interrupts the child at its next await point.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Stops one child per its policy and waits for it to end.
pub(crate) async fn stop_child(cell: &ActorCell, policy: Shutdown) -> Stopped {
    match policy {
        Shutdown::Brutal => {
            let _ = cell.kill_and_wait(Some(KILL_WAIT)).await;
            Stopped::Killed {
                after: Duration::ZERO,
            }
        }
        Shutdown::Infinity => {
            let _ = cell
                .stop_and_wait(Some(SHUTDOWN_REASON.to_string()), None)
                .await;
            Stopped::Gracefully
        }
        Shutdown::Timeout(limit) => {
            match cell
                .stop_and_wait(Some(SHUTDOWN_REASON.to_string()), Some(limit))
                .await
            {
                Err(ractor::RactorErr::Timeout) => {
                    let _ = cell.kill_and_wait(Some(KILL_WAIT)).await;
                    Stopped::Killed { after: limit }
                }
                // Ok, or the child was already gone.
                _ => Stopped::Gracefully,
            }
        }
    }
}

/// Asks all children to stop at once, then waits for each against its own deadline, killing
/// the ones that overrun. Used by dynamic supervisors, whose children have no order.
pub(crate) async fn stop_all_concurrently(children: Vec<(ActorCell, Shutdown)>) -> Vec<Stopped> {
    let started = Instant::now();
    for (cell, policy) in &children {
        match policy {
            Shutdown::Brutal => cell.kill(),
            _ => cell.stop(Some(SHUTDOWN_REASON.to_string())),
        }
    }
    let mut out = Vec::with_capacity(children.len());
    for (cell, policy) in &children {
        let stopped = match policy {
            Shutdown::Brutal => {
                let _ = cell.wait(Some(KILL_WAIT)).await;
                Stopped::Killed {
                    after: Duration::ZERO,
                }
            }
            Shutdown::Infinity => {
                let _ = cell.wait(None).await;
                Stopped::Gracefully
            }
            Shutdown::Timeout(limit) => {
                let left = limit.saturating_sub(started.elapsed());
                if cell.wait(Some(left)).await.is_err() {
                    let _ = cell.kill_and_wait(Some(KILL_WAIT)).await;
                    Stopped::Killed { after: *limit }
                } else {
                    Stopped::Gracefully
                }
            }
        };
        out.push(stopped);
    }
    out
}
