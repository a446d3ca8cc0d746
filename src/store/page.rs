//! Keyset pagination shared by every list: newest first by `(created_at, id)`, with an opaque
//! cursor that names the last row returned.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}|{}",
            self.created_at.timestamp_micros(),
            self.id
        ))
    }

    /// `None` for anything that is not a cursor this server made.
    pub fn decode(raw: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (micros, id) = text.split_once('|')?;
        Some(Cursor {
            created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)
                .filter(|t| crate::domain::instants::supported(*t))?,
            id: id.parse().ok()?,
        })
    }
}

/// One page of a list; `next_cursor` is `None` on the last page.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows: the extra row only tells that more exist.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> Cursor) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|r| key(r).encode())
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let c = Cursor {
            created_at: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
    }

    #[test]
    fn foreign_cursors_are_refused() {
        for raw in [
            "",
            "not base64!",
            "aGVsbG8",
            &URL_SAFE_NO_PAD.encode("12|not-a-uuid"),
        ] {
            assert_eq!(Cursor::decode(raw), None, "{raw}");
        }
    }

    #[test]
    fn page_sets_cursor_only_when_more_rows_exist() {
        let at = crate::clock::Clock::system().now();
        let rows: Vec<Cursor> = (0..3)
            .map(|_| Cursor {
                created_at: at,
                id: Uuid::now_v7(),
            })
            .collect();
        let full = Page::from_rows(rows.clone(), 2, |c| *c);
        assert_eq!(full.items.len(), 2);
        assert_eq!(full.next_cursor, Some(rows[1].encode()));
        let last = Page::from_rows(rows, 3, |c| *c);
        assert_eq!(last.items.len(), 3);
        assert_eq!(last.next_cursor, None);
    }
}

/// `[from, to)` on `created_at`.
#[derive(Debug, Clone, Copy)]
pub struct TimeRange {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// One page of a per-bot table, newest first by `(created_at, id)`.
pub async fn bot_page<T>(
    pool: &PgPool,
    table: &'static str,
    bot_id: Uuid,
    range: TimeRange,
    after: Option<Cursor>,
    limit: i64,
    key: impl Fn(&T) -> Cursor,
) -> Result<Page<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new("SELECT * FROM ");
    q.push(table).push(" WHERE bot_id = ").push_bind(bot_id);
    push_window(&mut q, range, after, limit);
    let rows: Vec<T> = q.build_query_as().fetch_all(pool).await?;
    Ok(Page::from_rows(rows, limit, key))
}

/// Appends the `[from, to)` range on `created_at`, the keyset condition after `after`, and the
/// newest-first order with one row more than `limit` (so [`Page::from_rows`] knows whether
/// another page follows).
pub fn push_window(
    q: &mut QueryBuilder<'_, Postgres>,
    range: TimeRange,
    after: Option<Cursor>,
    limit: i64,
) {
    if let Some(from) = range.from {
        q.push(" AND created_at >= ").push_bind(from);
    }
    if let Some(to) = range.to {
        q.push(" AND created_at < ").push_bind(to);
    }
    if let Some(c) = after {
        q.push(" AND (created_at, id) < (")
            .push_bind(c.created_at)
            .push(", ")
            .push_bind(c.id)
            .push(")");
    }
    q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(limit + 1);
}
