//! `tradeplane sandbox`: serves the vendor simulator until SIGINT/SIGTERM.

use std::net::SocketAddr;

use super::ClockArgs;

pub async fn run(
    listen: SocketAddr,
    redis_listen: SocketAddr,
    live_listen: SocketAddr,
    clock: ClockArgs,
) -> anyhow::Result<()> {
    if let Some(how) = clock.shifted() {
        tracing::warn!("sandbox clock shifted: {how}, at wall speed");
    }
    let clock = clock.clock();
    let (http, redis) = crate::sandbox::bind(listen, redis_listen).await?;
    let http_addr = http.local_addr()?;
    let redis_addr = redis.local_addr()?;
    let gateway = tokio::net::TcpListener::bind(live_listen).await?;
    let live_addr = gateway.local_addr()?;
    tracing::info!(%http_addr, %redis_addr, %live_addr, "sandbox serving (point providers at it with .env.sandbox)");
    println!(
        "sandbox: http://{http_addr} (vendors), redis://{redis_addr} (RESP PING), tcp://{live_addr} (Databento live gateway)"
    );
    tokio::select! {
        served = crate::sandbox::serve_with_live(http, redis, gateway, clock) => served?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
