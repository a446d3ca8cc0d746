//! List query parameters shared by every paginated endpoint (`limit`, `cursor`, `from`, `to`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use crate::store::page::{Cursor, DEFAULT_LIMIT, MAX_LIMIT, Page};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Only items created at or after this instant (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Only items created before this instant (RFC 3339).
    pub to: Option<DateTime<Utc>>,
}

/// Validated paging.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub limit: i64,
    pub after: Option<Cursor>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl PageParams {
    pub fn validate(&self) -> Result<Paging, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::validation(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = match &self.cursor {
            None => None,
            Some(raw) => Some(Cursor::decode(raw).ok_or_else(|| {
                ApiError::validation("cursor", "is not a cursor returned by this endpoint")
            })?),
        };
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from >= to
        {
            return Err(ApiError::validation("from", "must be earlier than `to`"));
        }
        Ok(Paging {
            limit,
            after,
            from: self.from,
            to: self.to,
        })
    }
}

/// A page on the wire: `items` plus `next_cursor` (null on the last page).
#[derive(Debug, Serialize, ToSchema)]
pub struct PageBody<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> From<Page<T>> for PageBody<T> {
    fn from(page: Page<T>) -> Self {
        PageBody {
            items: page.items,
            next_cursor: page.next_cursor,
        }
    }
}
