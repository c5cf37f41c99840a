//! The `instance_settings` table: name → value facts about the installation as a whole (the
//! generated cookie key, when first-run setup happened).

use diesel::prelude::*;

use super::DbConnection;
use super::schema::instance_settings;

/// Stores `value` under `name` unless the name is already there; true when this call stored
/// it. Of callers racing on one name (instances starting at once, two first-run setups), the
/// first insert wins and the others wait for its transaction and then find the row.
/// The multi-connection DSL has no ON CONFLICT, so each backend's own connection runs it.
pub fn insert_if_absent(conn: &mut DbConnection, name: &str, value: &str) -> QueryResult<bool> {
    macro_rules! insert {
        ($c:expr) => {
            diesel::insert_into(instance_settings::table)
                .values((instance_settings::name.eq(name), instance_settings::value.eq(value)))
                .on_conflict_do_nothing()
                .execute($c)
        };
    }
    let inserted = match conn {
        DbConnection::Postgresql(c) => insert!(c),
        DbConnection::Sqlite(c) => insert!(c),
    }?;
    Ok(inserted == 1)
}

pub fn get(conn: &mut DbConnection, name: &str) -> QueryResult<Option<String>> {
    instance_settings::table.find(name).select(instance_settings::value).first(conn).optional()
}
