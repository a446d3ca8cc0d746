//! The process's one clock: `tradeplane_actors::Clock` (system, shifted for a test stack, or
//! manual in tests), built once at start-up and handed to the runtime, the API and the
//! provider clients. Nothing reads the system clock directly (clippy.toml refuses it).

pub use tradeplane_actors::Clock;
