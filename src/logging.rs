//! Log setup: `tracing` with the request span (and so its `trace_id`) on every line.
//! Logs go to stderr; stdout carries only what a command prints for the user (URLs).

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogFormat;

fn quiet(target: &str) -> tracing_subscriber::filter::Directive {
    format!("{target}=info")
        .parse()
        .unwrap_or_else(|_| tracing_subscriber::filter::LevelFilter::INFO.into())
}

/// Installs the global subscriber. `RUST_LOG` overrides the default level (info).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"))
        // Whatever `RUST_LOG` asks: the WebSocket library traces its handshake's request line,
        // and Ironbeam's stream carries its token in that URL (`/stream/{id}?token=`).
        .add_directive(quiet("tungstenite"))
        .add_directive(quiet("tokio_tungstenite"));
    let registry = tracing_subscriber::registry().with(filter);
    // `try_init` so a second call (tests) is harmless.
    let _ = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    .json()
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .try_init(),
    };
}
