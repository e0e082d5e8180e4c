-- When a session was last used (it ends after review.session_idle_timeout_secs without use)
-- and when its owner last proved who they are (a password, or the sign-in proxy's fresh
-- assertion): revealing an image needs that within review.reauth_after_secs.
ALTER TABLE sessions ADD COLUMN last_seen_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE sessions ADD COLUMN authenticated_at timestamptz NOT NULL DEFAULT now();
