//! The one way a request runs argon2: through [`PasswordWork`], which lets only so many hashes
//! run at once. Each argon2 run holds 19 MiB and a core for tens of milliseconds; without a
//! bound, hundreds of concurrent sign-ins each took a blocking thread and its 19 MiB at the
//! same time (docs/BENCHMARKS.md, "Abuse: a sign-in flood and slow bodies"). A request beyond the bound
//! waits, as a parked future rather than a thread, for a short while; if no turn comes it is
//! told to come back ([`Busy`]), which the console answers with 429 and `Retry-After`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::password::{DUMMY_HASH, Password, hash_password, verify_password};
use crate::config::PasswordWorkSettings;

/// No turn came within the wait: try again after `retry_after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("too many passwords are being checked at once")]
pub struct Busy {
    pub retry_after: Duration,
}

/// Why password work gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum PasswordWorkError {
    #[error(transparent)]
    Busy(#[from] Busy),
    /// The blocking thread running argon2 panicked or was cancelled.
    #[error("password hashing failed: {0}")]
    Failed(#[from] tokio::task::JoinError),
}

/// The bound on argon2 work, shared by every worker.
pub struct PasswordWork {
    permits: Arc<Semaphore>,
    max_wait: Duration,
}

/// A turn to run argon2 once. Held until the hash is done, even if the request that asked
/// for it has gone: the work still runs, so it still counts.
pub struct PasswordTurn(OwnedSemaphorePermit);

impl PasswordWork {
    pub fn new(settings: PasswordWorkSettings) -> Self {
        Self { permits: Arc::new(Semaphore::new(settings.permits.max(1))), max_wait: settings.max_wait }
    }

    /// Waits up to the configured time for a turn.
    pub async fn turn(&self) -> Result<PasswordTurn, Busy> {
        match tokio::time::timeout(self.max_wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(PasswordTurn(permit)),
            // The semaphore is never closed; a timeout is the only way to get here.
            _ => Err(Busy { retry_after: Duration::from_secs(self.max_wait.as_secs().max(1)) }),
        }
    }

    /// Hashes a new password when a turn comes.
    pub async fn hash(&self, password: Password) -> Result<String, PasswordWorkError> {
        Ok(self.turn().await?.hash(password).await?)
    }
}

impl PasswordTurn {
    /// Checks `candidate` against `stored`, or, when there is no stored hash (no such account),
    /// against a dummy one, so that both failures take as long.
    pub async fn verify(
        self,
        candidate: String,
        stored: Option<String>,
    ) -> Result<bool, tokio::task::JoinError> {
        self.run(move || verify_password(&candidate, stored.as_deref().unwrap_or(&DUMMY_HASH))).await
    }

    pub async fn hash(self, password: Password) -> Result<String, tokio::task::JoinError> {
        self.run(move || hash_password(&password)).await
    }

    async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        let permit = self.0;
        tokio::task::spawn_blocking(move || {
            let answer = work();
            drop(permit);
            answer
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(permits: usize, max_wait: Duration) -> PasswordWork {
        PasswordWork::new(PasswordWorkSettings { permits, max_wait })
    }

    #[tokio::test]
    async fn beyond_the_permits_a_request_waits_then_is_told_to_come_back() {
        let w = work(1, Duration::from_millis(20));
        let held = w.turn().await.unwrap();
        let busy = w.turn().await.err().unwrap();
        assert_eq!(busy.retry_after, Duration::from_secs(1));
        drop(held);
        assert!(w.turn().await.is_ok());
    }

    #[tokio::test]
    async fn a_turn_is_given_back_when_its_work_is_done() {
        let w = work(1, Duration::from_secs(30));
        let pw = Password::parse("correct horse battery").unwrap();
        let hash = w.hash(pw).await.unwrap();
        let turn = w.turn().await.unwrap();
        assert!(turn.verify("correct horse battery".into(), Some(hash)).await.unwrap());
        let turn = w.turn().await.unwrap();
        assert!(!turn.verify("correct horse battery".into(), None).await.unwrap());
    }
}
