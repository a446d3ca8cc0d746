//! Restart intensity: more than `intensity` restarts within `period` is a meltdown.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct Intensity {
    limit: u32,
    period: Duration,
    restarts: VecDeque<Instant>,
}

impl Intensity {
    pub(crate) fn new(limit: u32, period: Duration) -> Self {
        Self {
            limit,
            period,
            restarts: VecDeque::new(),
        }
    }

    /// Records a restart at `now`; returns `Err(count)` when the limit is exceeded.
    pub(crate) fn record(&mut self, now: Instant) -> Result<(), usize> {
        while let Some(first) = self.restarts.front() {
            if now.duration_since(*first) > self.period {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
        self.restarts.push_back(now);
        let count = self.restarts.len();
        if count > self.limit as usize {
            Err(count)
        } else {
            Ok(())
        }
    }
}
