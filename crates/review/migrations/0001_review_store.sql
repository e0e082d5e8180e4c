-- The review store: flags from the review topics, the content reviewers look at (purged
-- after review.content_retention_days), people and sessions, decisions (an outbox towards
-- the decisions topic) and the append-only access log.

CREATE TABLE reviewers (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    -- What leaves the console (decisions topic, exports): never the login name.
    pseudonym     text NOT NULL UNIQUE,
    role          text NOT NULL CHECK (role IN ('reviewer', 'lead', 'auditor')),
    -- argon2id PHC string; NULL for accounts that only sign in through the trusted proxy.
    password_hash text,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    -- SHA-256 of the cookie value: a copy of this table does not let anyone sign in.
    token_hash  bytea PRIMARY KEY,
    reviewer_id bigint NOT NULL REFERENCES reviewers (id) ON DELETE CASCADE,
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE flags (
    flag_id          text PRIMARY KEY,
    message_id       text NOT NULL,
    conversation_id  text NOT NULL,
    sender_id        text NOT NULL,
    sent_at          timestamptz NOT NULL,
    flagged_at       timestamptz NOT NULL,
    stored_at        timestamptz NOT NULL DEFAULT now(),
    severity         text NOT NULL,
    -- low 0, medium 1, high 2, critical 3: queues sort on it.
    severity_rank    smallint NOT NULL,
    categories       text[] NOT NULL,
    -- The review topic (queue) the flag arrived on and where that record was.
    queue            text NOT NULL,
    review_partition integer NOT NULL,
    review_offset    bigint NOT NULL,
    source           jsonb NOT NULL,
    matches          jsonb NOT NULL,
    -- open -> decided, or open -> escalated -> decided (by a lead).
    status           text NOT NULL DEFAULT 'open'
                     CHECK (status IN ('open', 'escalated', 'decided')),
    claimed_by       bigint REFERENCES reviewers (id),
    claim_expires_at timestamptz,
    -- stored: text and images below; unavailable: could not be fetched (content_note says
    -- why); purged: deleted after the retention period.
    content_state    text NOT NULL CHECK (content_state IN ('stored', 'unavailable', 'purged')),
    content_note     text
);
CREATE INDEX flags_queue ON flags (status, severity_rank DESC, flagged_at);

-- One row per match, for the precision figures per list, version, category and detector.
CREATE TABLE flag_matches (
    flag_id      text NOT NULL REFERENCES flags (flag_id) ON DELETE CASCADE,
    ordinal      integer NOT NULL,
    detector     text NOT NULL,
    list         text NOT NULL,
    list_version text NOT NULL,
    category     text NOT NULL,
    -- The list entry (hash lists) or rule (text lists).
    entry        text NOT NULL,
    PRIMARY KEY (flag_id, ordinal)
);
CREATE INDEX flag_matches_list ON flag_matches (list, list_version);

CREATE TABLE flag_content (
    flag_id   text PRIMARY KEY REFERENCES flags (flag_id) ON DELETE CASCADE,
    text      text,
    stored_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE flag_images (
    flag_id       text NOT NULL REFERENCES flags (flag_id) ON DELETE CASCADE,
    attachment_id text NOT NULL,
    media_type    text NOT NULL,
    data          bytea NOT NULL,
    stored_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (flag_id, attachment_id)
);

CREATE TABLE decisions (
    id          bigserial PRIMARY KEY,
    flag_id     text NOT NULL REFERENCES flags (flag_id),
    reviewer_id bigint NOT NULL REFERENCES reviewers (id),
    decision    text NOT NULL CHECK (decision IN ('confirm', 'false_positive', 'escalate')),
    note        text NOT NULL DEFAULT '',
    decided_at  timestamptz NOT NULL DEFAULT now(),
    -- Outbox: set once the decisions topic acknowledged the record.
    published_at timestamptz
);
CREATE INDEX decisions_unpublished ON decisions (id) WHERE published_at IS NULL;
CREATE INDEX decisions_flag ON decisions (flag_id);

CREATE TABLE access_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    reviewer_id bigint REFERENCES reviewers (id),
    actor       text NOT NULL,
    role        text NOT NULL,
    action      text NOT NULL,
    flag_id     text,
    attachment_id text,
    detail      text NOT NULL DEFAULT '',
    remote_addr text NOT NULL DEFAULT ''
);

-- Append-only: rows can be added, never changed or removed.
CREATE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'access_log is append-only';
END;
$$;
CREATE TRIGGER access_log_no_update BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_append_only();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION access_log_append_only();

-- Review records that are not flags: kept with the reason, so nothing is skipped silently.
CREATE TABLE rejected_records (
    queue      text NOT NULL,
    partition  integer NOT NULL,
    "offset"   bigint NOT NULL,
    reason     text NOT NULL,
    detail     text NOT NULL,
    stored_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (queue, partition, "offset")
);
