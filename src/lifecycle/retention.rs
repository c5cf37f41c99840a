//! Usage is kept 400 days (`keys::usage::RETENTION_DAYS`): once a day each instance deletes the
//! usage days and client addresses older than that. Deleting what is past a fixed age is
//! idempotent, so instances need not agree on who runs it: a second run finds nothing.

use chrono::{NaiveDate, NaiveDateTime};

use crate::db::{Db, DbError};
use crate::keys::usage::{self, CleanUp};

/// Deletes usage and client addresses past retention as of `now`.
pub async fn run(db: &Db, now: NaiveDateTime) -> Result<CleanUp, DbError> {
    db.write(move |conn| usage::clean_up(conn, now).map_err(DbError::from)).await
}

/// Whether the clean-up is due: not yet run on `today` (UTC) by this instance.
pub fn due(last_run: Option<NaiveDate>, today: NaiveDate) -> bool {
    last_run.is_none_or(|day| day < today)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_a_utc_day() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        assert!(due(None, d));
        assert!(!due(Some(d), d));
        assert!(due(Some(d.pred_opt().unwrap()), d));
    }
}
