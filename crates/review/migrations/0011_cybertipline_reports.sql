-- CyberTipline reports (crates/review/src/reports): one per case (sender account), built by a
-- lead from the case's confirmed flags and submitted through NCMEC's reporting API (open
-- with XML, upload each file, send its details, finish; retract on error). Each step's
-- result is stored as it happens, so a retried submission resumes instead of opening a
-- second report, and a finished report is never submitted again.
CREATE TABLE reports (
    id              bigserial PRIMARY KEY,
    sender_id       text NOT NULL,
    -- draft: prepared, not (or no longer) open at NCMEC; opened: NCMEC gave report_id and
    -- files are going up; finished: NCMEC has it.
    status          text NOT NULL CHECK (status IN ('draft', 'opened', 'finished')),
    incident_type   text NOT NULL,
    -- The lead's summary (the report's additionalInfo).
    summary         text NOT NULL,
    -- The confirmed flags it reports, as they were when it was prepared.
    flag_ids        text[] NOT NULL,
    prepared_by     bigint NOT NULL REFERENCES reviewers (id),
    prepared_at     timestamptz NOT NULL DEFAULT now(),
    -- Who is submitting, until when no one else may (a crashed console's claim lapses).
    claimed_by      bigint REFERENCES reviewers (id),
    claim_expires_at timestamptz,
    report_id       bigint,
    opened_at       timestamptz,
    finished_at     timestamptz,
    finished_by     bigint REFERENCES reviewers (id),
    -- NCMEC report ids this case opened and then retracted after an error.
    retracted_ids   bigint[] NOT NULL DEFAULT '{}',
    -- The last failure: a reason code and a content-free detail.
    last_error      text,
    CHECK ((status = 'draft') = (report_id IS NULL)),
    CHECK ((status = 'finished') = (finished_at IS NOT NULL))
);
-- One report per case, never two.
CREATE UNIQUE INDEX reports_one_per_case ON reports (sender_id);

-- The files of a report: images of its confirmed flags, and the matched frames of their
-- videos (the console keeps frames, not whole videos).
CREATE TABLE report_files (
    report        bigint NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    ordinal       integer NOT NULL,
    flag_id       text NOT NULL REFERENCES flags (flag_id),
    attachment_id text NOT NULL,
    -- The frame's time in the video, for frames.
    frame_ms      bigint,
    md5           text NOT NULL,
    sha256        text NOT NULL,
    size_bytes    bigint NOT NULL,
    -- Whether anyone revealed it in the console before the report was prepared.
    viewed        boolean NOT NULL,
    -- NCMEC's file id, once uploaded; when its details were sent.
    file_id       text,
    details_sent_at timestamptz,
    PRIMARY KEY (report, ordinal)
);

-- A finished report holds its flags for review.preservation_days from the report.
ALTER TABLE holds DROP CONSTRAINT holds_kind_check;
ALTER TABLE holds ADD CONSTRAINT holds_kind_check
    CHECK (kind IN ('confirmed', 'placed', 'reported'));

-- What the message said of its sender (ip address, device id, e-mail: sealed JSON) and the
-- attachments' original file names (sealed), for reports.
ALTER TABLE flag_content ADD COLUMN sender_details bytea;
ALTER TABLE flag_images ADD COLUMN file_name bytea;
