-- Preservation (legal holds): a flag under an active hold keeps its content past
-- review.content_retention_days. Confirming a flag holds it for review.preservation_days (18
-- U.S.C. § 2258A(h) as amended by the REPORT Act: one year); a lead may hold any flag (a
-- preservation request under § 2703(f), a court order) and release a hold with a reason.
-- Placing, releasing and expiring are in the access log; this table says what is held now.
CREATE TABLE holds (
    id          bigserial PRIMARY KEY,
    flag_id     text NOT NULL REFERENCES flags (flag_id),
    -- confirmed: placed by a confirming decision; placed: by a lead.
    kind        text NOT NULL CHECK (kind IN ('confirmed', 'placed')),
    reason      text NOT NULL CHECK (reason <> ''),
    -- A preservation-request or case number, when there is one.
    reference   text NOT NULL DEFAULT '',
    placed_by   bigint NOT NULL REFERENCES reviewers (id),
    placed_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL CHECK (expires_at > placed_at),
    -- Set once: released by a lead (ended_by, end_reason) or expired (by the purge run).
    ended_at    timestamptz,
    ended_by    bigint REFERENCES reviewers (id),
    end_reason  text,
    CHECK ((ended_at IS NULL) = (end_reason IS NULL))
);
CREATE INDEX holds_active ON holds (flag_id) WHERE ended_at IS NULL;
CREATE INDEX holds_expiry ON holds (expires_at) WHERE ended_at IS NULL;
