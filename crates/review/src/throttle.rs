//! Sign-in throttling: password guessing is slowed by growing delays, never stopped by a
//! lockout that anyone could trigger against a reviewer.
//!
//! Each attempt is counted, atomically and before the password is checked, in three scopes —
//! the account from this client address, this client address for any account, the account
//! from any address — so concurrent guesses see each other. Past a scope's free attempts the
//! next one must wait a delay that doubles with every attempt up to a ceiling; an attempt
//! made too early is refused without a password check. A guesser elsewhere therefore slows a
//! reviewer by at most the account scope's ceiling (a minute), while guesses from one address
//! soon wait a quarter of an hour. A successful sign-in clears its account-and-address count
//! and is taken off the others; counts are forgotten an hour after the scope's last attempt.
//! Unknown account names are counted only by address: what was typed is never stored (it may
//! be a password).

use std::net::IpAddr;
use std::time::Duration;

use crate::accounts::Reviewer;
use crate::store::{Store, StoreError};

/// One scope's rule: attempts free of delay, then a delay doubling from `first_delay` up to
/// `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    scope: &'static str,
    free_attempts: u32,
    first_delay: Duration,
    max_delay: Duration,
}

const ACCOUNT_ADDRESS: Rule = Rule {
    scope: "account_address",
    free_attempts: 5,
    first_delay: Duration::from_secs(30),
    max_delay: Duration::from_secs(15 * 60),
};
const ADDRESS: Rule = Rule {
    scope: "address",
    free_attempts: 20,
    first_delay: Duration::from_secs(30),
    max_delay: Duration::from_secs(15 * 60),
};
const ACCOUNT: Rule = Rule {
    scope: "account",
    free_attempts: 50,
    first_delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(60),
};
/// A scope's count is forgotten this long after its last attempt.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);

impl Rule {
    /// The wait before the next attempt after `attempts`.
    fn delay(self, attempts: u32) -> Duration {
        match attempts.checked_sub(self.free_attempts) {
            None => Duration::ZERO,
            Some(over) => self
                .first_delay
                .saturating_mul(1 << over.min(20))
                .min(self.max_delay),
        }
    }
}

/// The outcome of asking to try a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Go ahead; the attempt is counted.
    Allowed,
    /// Too early: try again after this long.
    Wait(Duration),
}

fn keys(account: Option<&Reviewer>, address: IpAddr) -> Vec<(Rule, String)> {
    let mut keys = vec![(ADDRESS, address.to_string())];
    if let Some(who) = account {
        keys.push((ACCOUNT_ADDRESS, format!("{}@{address}", who.id)));
        keys.push((ACCOUNT, who.id.to_string()));
    }
    keys
}

impl Store {
    /// Counts a sign-in attempt for `account` (`None`: no such account) from `address` in
    /// every scope, unless a scope says it comes too early; then nothing is counted.
    pub async fn attempt_sign_in(
        &self,
        account: Option<&Reviewer>,
        address: IpAddr,
    ) -> Result<Attempt, StoreError> {
        // Times are the clock's, not the transaction's start: a transaction that began
        // earlier but waited for the row's lock must not see a later attempt's time as future.
        let mut tx = self.pool().begin().await.map_err(StoreError::db("begin"))?;
        for (rule, key) in keys(account, address) {
            let counted: Option<i32> = sqlx::query_scalar(
                "INSERT INTO sign_in_throttle AS t (scope, key, attempts, not_before, updated_at)
                 VALUES ($1, $2, 1, clock_timestamp(), clock_timestamp())
                 ON CONFLICT (scope, key) DO UPDATE SET
                     attempts = CASE WHEN t.updated_at < clock_timestamp() - make_interval(secs => $3)
                                THEN 1 ELSE t.attempts + 1 END,
                     updated_at = clock_timestamp()
                 WHERE t.not_before <= clock_timestamp()
                 RETURNING attempts",
            )
            .bind(rule.scope)
            .bind(&key)
            .bind(FORGET_AFTER.as_secs_f64())
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::db("count sign-in attempt"))?;
            let Some(attempts) = counted else {
                let wait: f64 = sqlx::query_scalar(
                    "SELECT greatest(extract(epoch FROM not_before - clock_timestamp()), 1)::float8
                     FROM sign_in_throttle WHERE scope = $1 AND key = $2",
                )
                .bind(rule.scope)
                .bind(&key)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::db("read sign-in delay"))?;
                tx.rollback().await.map_err(StoreError::db("rollback"))?;
                return Ok(Attempt::Wait(Duration::from_secs_f64(wait.ceil())));
            };
            let delay = rule.delay(u32::try_from(attempts).unwrap_or(u32::MAX));
            sqlx::query(
                "UPDATE sign_in_throttle SET not_before = clock_timestamp() + make_interval(secs => $3)
                 WHERE scope = $1 AND key = $2",
            )
            .bind(rule.scope)
            .bind(&key)
            .bind(delay.as_secs_f64())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("set sign-in delay"))?;
        }
        // Counts nobody has touched for a while go at each attempt.
        sqlx::query(
            "DELETE FROM sign_in_throttle WHERE updated_at < clock_timestamp() - make_interval(secs => $1)",
        )
        .bind(FORGET_AFTER.as_secs_f64())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("forget sign-in attempts"))?;
        tx.commit().await.map_err(StoreError::db("commit"))?;
        Ok(Attempt::Allowed)
    }

    /// After `who` signed in from `address`: their count from there starts over, and the
    /// attempt no longer counts for the address or the account (a busy office behind one
    /// address signs in all day).
    pub async fn signed_in_from(&self, who: &Reviewer, address: IpAddr) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(StoreError::db("begin"))?;
        for (rule, key) in keys(Some(who), address) {
            let sql = if rule == ACCOUNT_ADDRESS {
                "DELETE FROM sign_in_throttle WHERE scope = $1 AND key = $2"
            } else {
                "UPDATE sign_in_throttle SET attempts = greatest(attempts - 1, 0)
                 WHERE scope = $1 AND key = $2"
            };
            sqlx::query(sql)
                .bind(rule.scope)
                .bind(&key)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("clear sign-in attempts"))?;
        }
        tx.commit().await.map_err(StoreError::db("commit"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::store_with_reviewer;

    #[tokio::test]
    async fn past_the_free_attempts_the_next_one_waits_and_a_sign_in_starts_over() {
        let (store, who) = store_with_reviewer().await;
        let (here, there): (IpAddr, IpAddr) = ([192, 0, 2, 1].into(), [192, 0, 2, 2].into());
        for _ in 0..ACCOUNT_ADDRESS.free_attempts {
            let attempt = store.attempt_sign_in(Some(&who), here).await.unwrap();
            assert_eq!(attempt, Attempt::Allowed);
        }
        let Attempt::Wait(wait) = store.attempt_sign_in(Some(&who), here).await.unwrap() else {
            panic!("the attempt after the free ones must wait");
        };
        assert_eq!(wait, ACCOUNT_ADDRESS.first_delay);
        // Elsewhere, the account is not locked out.
        let attempt = store.attempt_sign_in(Some(&who), there).await.unwrap();
        assert_eq!(attempt, Attempt::Allowed);

        // After a sign-in from here, its count starts over.
        store.signed_in_from(&who, here).await.unwrap();
        for _ in 0..ACCOUNT_ADDRESS.free_attempts {
            let attempt = store.attempt_sign_in(Some(&who), here).await.unwrap();
            assert_eq!(attempt, Attempt::Allowed);
        }
    }

    #[test]
    fn delays_start_after_the_free_attempts_double_and_stop_at_a_ceiling() {
        let secs = |rule: Rule, attempts| rule.delay(attempts).as_secs();
        let table = [
            (ACCOUNT_ADDRESS, 4, 0),
            (ACCOUNT_ADDRESS, 5, 30),
            (ACCOUNT_ADDRESS, 6, 60),
            (ACCOUNT_ADDRESS, 9, 480),
            (ACCOUNT_ADDRESS, 10, 900),
            (ACCOUNT_ADDRESS, u32::MAX, 900),
            (ADDRESS, 19, 0),
            (ADDRESS, 20, 30),
            // Someone guessing from everywhere delays the account's owner a minute at most.
            (ACCOUNT, 49, 0),
            (ACCOUNT, 50, 1),
            (ACCOUNT, 56, 60),
            (ACCOUNT, 1000, 60),
        ];
        for (rule, attempts, want) in table {
            assert_eq!(secs(rule, attempts), want, "{} {attempts}", rule.scope);
        }
    }
}
