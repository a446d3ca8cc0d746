//! Open `/api/events/stream` connections per caller (a session, or a service token): each
//! stream holds a slot until its connection ends, and a caller over the cap is refused with
//! `RATE_LIMITED`. One signed-in browser cannot hold the server's connections by opening tabs.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use uuid::Uuid;

/// The slots of every caller, shared by the handlers.
#[derive(Clone)]
pub struct StreamSlots {
    per_caller: Arc<Mutex<HashMap<Uuid, usize>>>,
    limit: usize,
}

/// One open stream of `caller`; dropping it (the stream ended) frees the slot.
pub struct StreamSlot {
    slots: StreamSlots,
    caller: Uuid,
}

impl StreamSlots {
    pub fn new(limit: usize) -> Self {
        StreamSlots {
            per_caller: Arc::default(),
            limit: limit.max(1),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Streams open now, of every caller.
    pub fn open(&self) -> usize {
        self.per_caller
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .sum()
    }

    /// A slot for `caller`, or None when it already holds `limit` open streams.
    pub fn take(&self, caller: Uuid) -> Option<StreamSlot> {
        let mut map = self.per_caller.lock().unwrap_or_else(|e| e.into_inner());
        let open = map.entry(caller).or_insert(0);
        if *open >= self.limit {
            return None;
        }
        *open += 1;
        Some(StreamSlot {
            slots: self.clone(),
            caller,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut map = self
            .slots
            .per_caller
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(open) = map.get_mut(&self.caller) {
            *open -= 1;
            if *open == 0 {
                map.remove(&self.caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_holds_at_most_limit_slots_and_gets_them_back() {
        let slots = StreamSlots::new(2);
        let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
        let first = slots.take(me).unwrap();
        let _second = slots.take(me).unwrap();
        assert!(slots.take(me).is_none());
        assert!(
            slots.take(other).is_some(),
            "another caller is not affected"
        );
        drop(first);
        assert!(slots.take(me).is_some(), "a closed stream frees its slot");
    }
}
