//! Shared by the load examples: bulk usage events.

use std::time::Instant;

use sqlx::PgPool;
use uuid::Uuid;

/// Fills `integration_usage_events` up to `target` rows (through the real insert trigger, in
/// 1M-row statements, spread over 30 days and 17 providers, 2 % errors); every tenth event
/// carries one of `bots` (round robin) when any are given.
pub async fn fill(pool: &PgPool, target: u64, bots: &[Uuid]) -> anyhow::Result<()> {
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM integration_usage_events")
        .fetch_one(pool)
        .await?;
    let mut have = u64::try_from(have)?;
    let started = Instant::now();
    while have < target {
        let n = (target - have).min(1_000_000) as i64;
        sqlx::query(
            "INSERT INTO integration_usage_events \
             (id, created_at, provider_id, bot_id, action, status, latency_ms, error_code, trace_id, metadata) \
             SELECT gen_random_uuid(), now() - (random() * interval '30 days'), \
                    (ARRAY['databento','polygon','finnhub','alphavantage','fmp','fred','ironbeam','tradovate', \
                           'openai','anthropic','google_gemini','groq','xai','openrouter','unusual_whales', \
                           'redis','discord'])[1 + (g % 17)], \
                    CASE WHEN g % 10 = 0 AND cardinality($2::uuid[]) > 0 \
                         THEN ($2::uuid[])[1 + (g / 10) % cardinality($2::uuid[])] END, \
                    'bars.fetch', CASE WHEN g % 50 = 0 THEN 'ERROR' ELSE 'OK' END, (g % 300)::int, \
                    CASE WHEN g % 50 = 0 THEN 'TIMEOUT' END, md5(g::text), '{}'::jsonb \
             FROM generate_series(1, $1::bigint) g",
        )
        .bind(n)
        .bind(bots)
        .execute(pool)
        .await?;
        have += n as u64;
        println!(
            "filled {have} events ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
    }
    // Vacuumed now, so autovacuum of a freshly filled table does not run during the measurement.
    sqlx::query("VACUUM ANALYZE integration_usage_events")
        .execute(pool)
        .await?;
    sqlx::query("ANALYZE integration_usage_minutely")
        .execute(pool)
        .await?;
    Ok(())
}
