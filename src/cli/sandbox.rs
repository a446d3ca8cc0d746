//! `tradeplane sandbox`: serves the vendor simulator until SIGINT/SIGTERM.

use std::net::SocketAddr;

use super::ClockArgs;

pub async fn run(
    listen: SocketAddr,
    redis_listen: SocketAddr,
    clock: ClockArgs,
) -> anyhow::Result<()> {
    if let Some(start) = clock.clock_start {
        tracing::warn!(%start, "sandbox clock shifted: it starts at {start} and runs at wall speed");
    }
    let clock = clock.clock();
    let (http, redis) = crate::sandbox::bind(listen, redis_listen).await?;
    let http_addr = http.local_addr()?;
    let redis_addr = redis.local_addr()?;
    tracing::info!(%http_addr, %redis_addr, "sandbox serving (point providers at it with .env.sandbox)");
    println!("sandbox: http://{http_addr} (vendors), redis://{redis_addr} (RESP PING)");
    tokio::select! {
        served = crate::sandbox::serve(http, redis, clock) => served?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
