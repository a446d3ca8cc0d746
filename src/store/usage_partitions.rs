//! The days of `integration_usage_events` (migration `20261207100000_usage_events_by_day`): a
//! partition per UTC day, made ahead of the clock and dropped whole once past the retention,
//! with the per-bot hourly rollup pruned alike. Rows of a day without a partition sit in the
//! DEFAULT partition (never lost) until their day is made, or until the retention takes them.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use sqlx::PgPool;

/// Partitions are named `integration_usage_events_pYYYYMMDD` after their UTC day.
const PREFIX: &str = "integration_usage_events_p";
const DEFAULT: &str = "integration_usage_events_default";
/// Days made ahead of today, so midnight never finds its day missing.
const AHEAD_DAYS: i64 = 2;
/// Old rows deleted per statement, and statements per table per pass (the DEFAULT partition,
/// the usage rollups): a pass stays bounded however much history a table held before its
/// first pass.
const DELETE_CHUNK: i64 = 10_000;
const DELETE_CHUNKS: usize = 100;
/// The providers' rollups (`integration_usage_minutely`, `integration_usage_hourly`) serve the
/// usage charts, whose longest window is 30 days (`api::ai_ops::parse_window`): they are kept
/// that long even under a shorter retention of the events (a few hundred rows a provider a day).
pub const ROLLUP_MIN_KEEP_DAYS: u32 = 30;
/// One maintenance at a time across nodes (a leader handing over mid-pass).
const LOCK_KEY: i64 = 0x7573_6167_6570_6172; // "usagepar"
/// A pass waits this long for a table lock, then gives up until the next pass: a day made or
/// dropped must not queue the fleet's inserts behind a slow reader.
const LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '2s'";

/// What one [`maintain`] pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Maintained {
    /// Days made (partitions created), oldest first.
    pub made: Vec<NaiveDate>,
    /// Rows moved from the DEFAULT partition into the days made.
    pub moved: u64,
    /// Days dropped past the retention, oldest first.
    pub dropped: Vec<NaiveDate>,
    /// Rows past the retention deleted from the DEFAULT partition.
    pub deleted: u64,
    /// `bot_usage_hourly` hours past the retention deleted.
    pub pruned_hours: u64,
    /// Provider rollup rows (minutely and hourly) past their retention deleted.
    pub pruned_rollups: u64,
}

fn name(day: NaiveDate) -> String {
    format!("{PREFIX}{}", day.format("%Y%m%d"))
}

fn day_of(name: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(name.strip_prefix(PREFIX)?, "%Y%m%d").ok()
}

fn start(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// The days that have a partition, oldest first.
pub async fn days(pool: &PgPool) -> Result<Vec<NaiveDate>, sqlx::Error> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'integration_usage_events'::regclass",
    )
    .fetch_all(pool)
    .await?;
    let mut days: Vec<NaiveDate> = names.iter().filter_map(|n| day_of(n)).collect();
    days.sort();
    Ok(days)
}

/// Makes today's partition and the next [`AHEAD_DAYS`], moving any rows of those days out of
/// the DEFAULT partition; drops the days that ended `keep_days` or more before today's start,
/// deletes the DEFAULT partition's rows older than that (bounded per pass), and prunes
/// `bot_usage_hourly` alike; prunes the providers' rollups past `keep_days` or
/// [`ROLLUP_MIN_KEEP_DAYS`], the longer. Idempotent; one pass at a time across nodes.
pub async fn maintain(
    pool: &PgPool,
    now: DateTime<Utc>,
    keep_days: u32,
) -> Result<Maintained, sqlx::Error> {
    let today = now.date_naive();
    let cutoff_day = today - Duration::days(i64::from(keep_days));
    let cutoff = start(cutoff_day);
    let mut done = Maintained::default();
    let have = days(pool).await?;
    for day in (0..=AHEAD_DAYS).map(|d| today + Duration::days(d)) {
        if !have.contains(&day)
            && let Some(moved) = make_day(pool, day).await?
        {
            done.made.push(day);
            done.moved += moved;
        }
    }
    for day in have.into_iter().filter(|d| *d < cutoff_day) {
        let mut tx = begin(pool).await?;
        // The name is ours (`name`), made of a date: nothing to quote.
        sqlx::query(&format!("DROP TABLE IF EXISTS {}", name(day)))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        done.dropped.push(day);
    }
    done.deleted = delete_before(pool, DEFAULT, "created_at", cutoff).await?;
    done.pruned_hours = delete_before(pool, "bot_usage_hourly", "bucket", cutoff).await?;
    let rollup_days = keep_days.max(ROLLUP_MIN_KEEP_DAYS);
    let rollup_cutoff = start(today - Duration::days(i64::from(rollup_days)));
    for rollup in ["integration_usage_minutely", "integration_usage_hourly"] {
        done.pruned_rollups += delete_before(pool, rollup, "bucket", rollup_cutoff).await?;
    }
    Ok(done)
}

/// Deletes `table`'s rows with `column` before `cutoff`, [`DELETE_CHUNK`] a statement and at
/// most [`DELETE_CHUNKS`] statements (the rest waits for the next pass). `table` and `column`
/// are this module's constants: nothing to quote.
async fn delete_before(
    pool: &PgPool,
    table: &str,
    column: &str,
    cutoff: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let sql = format!(
        "DELETE FROM {table} WHERE ctid = ANY(ARRAY( \
             SELECT ctid FROM {table} WHERE {column} < $1 LIMIT $2))"
    );
    let mut deleted = 0;
    for _ in 0..DELETE_CHUNKS {
        let n = sqlx::query(&sql)
            .bind(cutoff)
            .bind(DELETE_CHUNK)
            .execute(pool)
            .await?
            .rows_affected();
        deleted += n;
        if n < DELETE_CHUNK as u64 {
            break;
        }
    }
    Ok(deleted)
}

/// A maintenance transaction: the pass's advisory lock taken, table locks time-boxed.
async fn begin(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(LOCK_TIMEOUT).execute(&mut *tx).await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Creates `day`'s partition with the rows the DEFAULT partition holds for it (one
/// transaction: no row is ever outside a partition). `None` when another pass made it first.
async fn make_day(pool: &PgPool, day: NaiveDate) -> Result<Option<u64>, sqlx::Error> {
    let table = name(day);
    let mut tx = begin(pool).await?;
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&table)
        .fetch_one(&mut *tx)
        .await?;
    if exists {
        return Ok(None);
    }
    let moved = fill_day(&mut tx, day).await?;
    attach_day(&mut tx, day).await?;
    tx.commit().await?;
    Ok(Some(moved))
}

/// [`make_day`]'s first step: the day's table made apart and filled with the DEFAULT
/// partition's rows of the day, that partition locked until the transaction ends (attaching
/// then checks it holds no row of the day and builds the day's indexes). Answers the rows moved.
async fn fill_day(tx: &mut sqlx::PgConnection, day: NaiveDate) -> Result<u64, sqlx::Error> {
    let (from, to) = (start(day), start(day + Duration::days(1)));
    let table = name(day);
    sqlx::query(&format!(
        "CREATE TABLE {table} (LIKE integration_usage_events \
         INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!("LOCK TABLE {DEFAULT} IN EXCLUSIVE MODE"))
        .execute(&mut *tx)
        .await?;
    let moved = sqlx::query(&format!(
        "WITH moved AS (DELETE FROM {DEFAULT} WHERE created_at >= $1 AND created_at < $2 \
         RETURNING *) INSERT INTO {table} SELECT * FROM moved"
    ))
    .bind(from)
    .bind(to)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(moved)
}

/// [`make_day`]'s second step: the filled day attached as the partition of its UTC day.
async fn attach_day(tx: &mut sqlx::PgConnection, day: NaiveDate) -> Result<(), sqlx::Error> {
    let (from, to) = (start(day), start(day + Duration::days(1)));
    // Bounds as literals: ATTACH takes no parameters (ISO timestamps, nothing to quote).
    sqlx::query(&format!(
        "ALTER TABLE integration_usage_events ATTACH PARTITION {} \
         FOR VALUES FROM ('{}') TO ('{}')",
        name(day),
        from.to_rfc3339(),
        to.to_rfc3339()
    ))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::usage_events::{UsageEvent, UsageStatus, insert_many};
    use uuid::Uuid;

    fn read(at: DateTime<Utc>) -> UsageEvent {
        let mut e = UsageEvent::new("databento", "bars.fetch", UsageStatus::Ok, 0, at);
        e.bot_id = Some(Uuid::now_v7());
        e
    }

    /// Where each event is: its partition's name, by event id.
    async fn homes(pool: &PgPool) -> Vec<(Uuid, String)> {
        sqlx::query_as(
            "SELECT id, tableoid::regclass::text FROM integration_usage_events ORDER BY created_at",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    }

    #[sqlx::test]
    async fn days_are_made_ahead_with_their_rows_and_dropped_past_the_retention(pool: PgPool) {
        let now: DateTime<Utc> = "2026-12-07T15:00:00Z".parse().unwrap();
        let today = now.date_naive();
        let day = |d: i64| today + Duration::days(d);
        // Before any day is made every row is in the DEFAULT partition.
        let events = vec![
            read(now - Duration::days(40)),
            read(now - Duration::days(1)),
            read(now),
            read(now + Duration::days(1)),
        ];
        assert_eq!(insert_many(&pool, &events).await.unwrap(), 4);
        assert!(homes(&pool).await.iter().all(|(_, home)| home == DEFAULT));

        let done = maintain(&pool, now, 30).await.unwrap();
        assert_eq!(done.made, vec![day(0), day(1), day(2)]);
        assert_eq!(
            done.moved, 2,
            "today's and tomorrow's rows moved into their days"
        );
        assert_eq!(done.dropped, Vec::<NaiveDate>::new());
        assert_eq!(done.deleted, 1, "the row of 40 days ago is past 30 days");
        assert_eq!(done.pruned_hours, 1, "and its bot's hour");
        assert_eq!(done.pruned_rollups, 2, "and the provider's minute and hour");
        assert_eq!(days(&pool).await.unwrap(), vec![day(0), day(1), day(2)]);
        let want = vec![
            (events[1].id, DEFAULT.to_owned()),
            (events[2].id, name(day(0))),
            (events[3].id, name(day(1))),
        ];
        assert_eq!(homes(&pool).await, want);
        // The rollups counted every row once, moved or not.
        let reads: i64 = sqlx::query_scalar("SELECT sum(bar_reads)::int8 FROM bot_usage_hourly")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(reads, 3);

        // Nothing more to do; a batch written again meets its rows in their days.
        assert_eq!(
            maintain(&pool, now, 30).await.unwrap(),
            Maintained::default()
        );
        assert_eq!(insert_many(&pool, &events[1..]).await.unwrap(), 0);
        let later = read(now + Duration::hours(2));
        insert_many(&pool, std::slice::from_ref(&later))
            .await
            .unwrap();
        assert!(homes(&pool).await.contains(&(later.id, name(day(0)))));

        // 40 days on: the three days made are past 30 days and go whole, as does the DEFAULT
        // partition's row of yesterday; the new days are made.
        let done = maintain(&pool, now + Duration::days(40), 30).await.unwrap();
        assert_eq!(done.dropped, vec![day(0), day(1), day(2)]);
        assert_eq!(done.made, vec![day(40), day(41), day(42)]);
        assert_eq!(done.deleted, 1);
        assert_eq!(done.pruned_rollups, 8, "4 minutes and 4 hours");
        assert_eq!(homes(&pool).await, Vec::new());
        assert_eq!(days(&pool).await.unwrap(), vec![day(40), day(41), day(42)]);

        // A retention shorter than the charts' longest window: the events of 10 days ago go,
        // the provider's rollups of them stay (the 30-day chart still counts them).
        let then = read(now + Duration::days(30));
        insert_many(&pool, std::slice::from_ref(&then))
            .await
            .unwrap();
        let done = maintain(&pool, now + Duration::days(40), 2).await.unwrap();
        assert_eq!((done.deleted, done.pruned_rollups), (1, 0));
        let minutes: i64 = sqlx::query_scalar("SELECT count(*) FROM integration_usage_minutely")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(minutes, 1);
    }

    /// A write of a day without a partition is routed to the DEFAULT partition and waits there
    /// while the leader makes that day (`make_day` holds the DEFAULT partition's lock from the
    /// move to the commit): it is refused against the new bounds, sent again, and lands in its day.
    #[sqlx::test]
    async fn a_write_waiting_while_its_day_is_made_lands_in_the_day(pool: PgPool) {
        let now: DateTime<Utc> = "2026-12-07T15:00:00Z".parse().unwrap();
        let day = now.date_naive();
        // make_day's two steps, the write parked between them.
        let mut maker = pool.begin().await.unwrap();
        assert_eq!(fill_day(&mut maker, day).await.unwrap(), 0);
        let event = read(now);
        let write = tokio::spawn({
            let (pool, event) = (pool.clone(), event.clone());
            async move { insert_many(&pool, &[event]).await }
        });
        let waiting = "SELECT count(*) FROM pg_locks \
             WHERE relation = 'integration_usage_events_default'::regclass AND NOT granted";
        for _ in 0..1000 {
            if sqlx::query_scalar::<_, i64>(waiting)
                .fetch_one(&pool)
                .await
                .unwrap()
                > 0
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(
            !write.is_finished(),
            "the write waits on the DEFAULT partition"
        );
        attach_day(&mut maker, day).await.unwrap();
        maker.commit().await.unwrap();
        assert_eq!(write.await.unwrap().unwrap(), 1);
        assert_eq!(homes(&pool).await, vec![(event.id, name(day))]);
    }

    #[test]
    fn a_partitions_name_is_its_day() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        assert_eq!(name(day), "integration_usage_events_p20261207");
        assert_eq!(day_of(&name(day)), Some(day));
        assert_eq!(day_of(DEFAULT), None);
        assert_eq!(day_of("integration_usage_events_p2026120"), None);
    }
}
