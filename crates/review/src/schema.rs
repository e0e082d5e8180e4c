//! The review store's schema and who may change it.
//!
//! Two database roles are used: an **owner** that owns the tables and applies the migrations
//! (`vigil review migrate`, with `review.owner_database_url`), and the console's **runtime**
//! role (`review.database_url`), which gets only the privileges the console needs — on
//! `access_log` only `SELECT` and `INSERT`, so it can neither change nor remove a row, nor
//! disable the triggers that also forbid it (only an owner can). The console refuses to run
//! as the owner of the access log unless `review.single_role` says so (development, tests).

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use vigil_core::config::Secret;

use crate::config::ReviewConfig;
use crate::sealing::{Keyring, SealError};

use crate::store::{Store, StoreError};

/// The migrations, embedded at build time from `crates/review/migrations/`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

fn options(url: &Secret) -> Result<PgConnectOptions, StoreError> {
    url.expose()
        .parse()
        .map_err(|_| StoreError::Url("not a valid PostgreSQL URL".into()))
}

async fn pool(url: &Secret, timeout: Duration) -> Result<PgPool, StoreError> {
    PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(timeout)
        .connect_with(options(url)?)
        .await
        .map_err(StoreError::db("connect"))
}

/// A quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The newest migration this build knows.
fn latest() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

impl Store {
    /// Connects as a role that owns the schema (waiting up to `timeout` for the server) and
    /// applies pending migrations: development and tests, where one role does both.
    pub async fn open(url: &Secret, timeout: Duration) -> Result<Store, StoreError> {
        let pool = pool(url, timeout).await?;
        MIGRATOR.run(&pool).await?;
        Ok(Store::from_pool(pool))
    }

    /// The store as the console uses it, connected as `review.database_url`'s role. A
    /// schema older than this build's is migrated first — as `review.owner_database_url`'s
    /// role when set (granting the runtime role its privileges), else as the runtime role,
    /// which in a two-role set-up has no right to (then `vigil review migrate` is due).
    /// Refuses a runtime role that owns the access log (it could alter or empty it) unless
    /// `review.single_role` says one role is intended (development).
    pub async fn for_console(
        review: &ReviewConfig,
        timeout: Duration,
    ) -> Result<Store, StoreError> {
        let pool = pool(&review.database_url, timeout).await?;
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&pool)
                .await
                .unwrap_or(None);
        if applied.unwrap_or(0) < latest() {
            match &review.owner_database_url {
                Some(_) => {
                    Store::migrate(review, timeout).await?;
                }
                None => MIGRATOR.run(&pool).await.map_err(|err| {
                    StoreError::Schema(format!(
                        "the review store's schema is older than this console's and \
                         review.database_url's role cannot migrate it ({err}): run \
                         `vigil review migrate` with review.owner_database_url"
                    ))
                })?,
            }
        }
        let owns_log: bool = sqlx::query_scalar(
            "SELECT coalesce(pg_has_role(current_user, tableowner, 'USAGE'), false)
             FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'access_log'",
        )
        .fetch_optional(&pool)
        .await
        .map_err(StoreError::db("check table owner"))?
        .unwrap_or(false);
        if owns_log && !review.single_role {
            return Err(StoreError::Schema(
                "review.database_url's role owns the access log, so it could alter or empty \
                 it: give the console a role of its own and the owner's URL to \
                 review.owner_database_url (docs/review.md#database-roles), or set \
                 review.single_role = true where one role is intended (development)"
                    .into(),
            ));
        }
        let key_file = review
            .content_key_file
            .as_deref()
            .ok_or(SealError::NoKeys)?;
        Ok(Store::from_pool(pool).with_keyring(Keyring::load(key_file)?))
    }

    /// Connects without migrating or checking the role: for reading, as an auditor's role
    /// may (`vigil review verify-log`).
    pub async fn connect_reading(url: &Secret, timeout: Duration) -> Result<Store, StoreError> {
        Ok(Store::from_pool(pool(url, timeout).await?))
    }

    /// `vigil review migrate`: applies pending migrations as the owner and grants the
    /// runtime role (the user of `review.database_url`) what the console needs. Without an
    /// owner URL, migrates as `review.database_url`'s role and grants nothing.
    pub async fn migrate(review: &ReviewConfig, timeout: Duration) -> Result<Migrated, StoreError> {
        let Some(owner_url) = &review.owner_database_url else {
            Store::open(&review.database_url, timeout).await?;
            return Ok(Migrated {
                version: latest(),
                runtime_role: None,
            });
        };
        let owner = pool(owner_url, timeout).await?;
        MIGRATOR.run(&owner).await?;
        let runtime = options(&review.database_url)?.get_username().to_string();
        let role = ident(&runtime);
        // Derived from the schema as migrated, so a table a later migration adds is the
        // console's without a list to keep: everything (claims, sessions, the retention
        // purge change and delete rows), then the two tables it must not change taken back.
        let grants = [
            format!("GRANT USAGE ON SCHEMA public TO {role}"),
            format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
            ),
            format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"),
            format!("REVOKE ALL ON access_log, _sqlx_migrations FROM {role}"),
            format!("GRANT SELECT, INSERT ON access_log TO {role}"),
            format!("GRANT SELECT ON _sqlx_migrations TO {role}"),
        ];
        let mut tx = owner.begin().await.map_err(StoreError::db("begin"))?;
        for grant in &grants {
            sqlx::raw_sql(grant)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("grant to the runtime role"))?;
        }
        tx.commit().await.map_err(StoreError::db("commit"))?;
        Ok(Migrated {
            version: latest(),
            runtime_role: Some(runtime),
        })
    }
}

/// What `vigil review migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The schema's migration now.
    pub version: i64,
    /// The role granted the console's privileges, with an owner URL.
    pub runtime_role: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_quoted_as_identifiers() {
        assert_eq!(ident("vigil_console"), "\"vigil_console\"");
        assert_eq!(ident("a\"b; DROP"), "\"a\"\"b; DROP\"");
    }
}
