-- Contact sheets of flagged videos (crates/review/src/contact.rs), rendered once at ingest by
-- a confined video worker: per video attachment with video evidence, its duration and why
-- its sheet is missing or partial; per frame shown, a small PNG (served only once revealed,
-- and logged) and its blurred mosaic. The video itself is never stored. The console's role
-- gets its privileges on both from `vigil review migrate` (every table in the schema).
CREATE TABLE flag_videos (
    flag_id       text NOT NULL REFERENCES flags (flag_id) ON DELETE CASCADE,
    attachment_id text NOT NULL,
    duration_ms   bigint CHECK (duration_ms >= 0),
    -- A reason code and what happened, never content.
    note          text,
    stored_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (flag_id, attachment_id)
);

CREATE TABLE flag_video_frames (
    flag_id       text NOT NULL,
    attachment_id text NOT NULL,
    -- The time of the frame shown, in milliseconds (vPDQ's: frame number over frame rate).
    frame_ms      bigint NOT NULL CHECK (frame_ms >= 0),
    -- The time the sheet asked for: a match's frame_ms or a matched stretch's start, end or
    -- middle; what matched there is read from the flag's matches.
    time_ms       bigint NOT NULL CHECK (time_ms >= 0),
    thumbnail     bytea NOT NULL,
    preview       bytea,
    preview_note  text,
    stored_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (flag_id, attachment_id, frame_ms),
    FOREIGN KEY (flag_id, attachment_id) REFERENCES flag_videos ON DELETE CASCADE
);
