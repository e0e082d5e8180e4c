//! The signed-in person of a request, as pages and handlers see them.

use std::time::Duration;

use time::OffsetDateTime;

use crate::access::{Access, Action};
use crate::accounts::Reviewer;
use crate::sessions::Session;

/// The signed-in person of a request. Extracting it from a request without a valid
/// session redirects to the sign-in page.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    pub(crate) who: Reviewer,
    pub(crate) csrf: String,
    /// When the session began (reveals last for the session).
    pub(crate) since: OffsetDateTime,
    /// When its owner last proved who they are (signing in, or re-authenticating).
    pub(crate) authenticated_at: OffsetDateTime,
    pub(crate) remote_addr: String,
}

impl Signed {
    /// `session`, used from `remote_addr`.
    pub(crate) fn new(session: Session, remote_addr: String) -> Signed {
        let Session {
            who,
            csrf,
            since,
            authenticated_at,
        } = session;
        Signed {
            who,
            csrf,
            since,
            authenticated_at,
            remote_addr,
        }
    }

    /// An access-log row of this person doing `action` from this request's address.
    pub(crate) fn access(&self, action: Action) -> Access<'_> {
        Access::by(&self.who, action, &self.remote_addr)
    }

    /// Whether its owner proved who they are within `window`.
    pub(crate) fn recently_authenticated(&self, window: Duration) -> bool {
        OffsetDateTime::now_utc() - self.authenticated_at
            < time::Duration::try_from(window).unwrap_or(time::Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::session;

    #[test]
    fn a_session_is_fresh_within_the_window_since_its_owner_proved_who_they_are() {
        let signed = Signed::new(session(10 * 60), "192.0.2.1".into());
        assert!(signed.recently_authenticated(Duration::from_secs(11 * 60)));
        assert!(!signed.recently_authenticated(Duration::from_secs(9 * 60)));
        assert!(signed.recently_authenticated(Duration::MAX));
        let access = signed.access(Action::RevealImage);
        assert_eq!(access.who, Some(&signed.who));
        assert_eq!(access.remote_addr, "192.0.2.1");
    }
}
