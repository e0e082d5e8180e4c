-- Reviewer wellness (issue 24): how each person wants revealed content shown. A person
-- without a row has the defaults: greyscale, 320 px on the longer side, medium blur.
CREATE TABLE reviewer_settings (
    reviewer_id    bigint PRIMARY KEY REFERENCES reviewers (id) ON DELETE CASCADE,
    colour         boolean NOT NULL DEFAULT false,
    -- The steps the settings page offers (crate::wellness::REVEAL_SIZES_PX).
    reveal_size_px integer NOT NULL DEFAULT 320 CHECK (reveal_size_px BETWEEN 160 AND 640),
    blur           text NOT NULL DEFAULT 'medium' CHECK (blur IN ('low', 'medium', 'high')),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Today's reveals per person (the exposure counter, the daily cap) without a scan of the
-- whole access log.
CREATE INDEX access_log_reveals ON access_log (reviewer_id, at)
    WHERE action IN ('reveal_image', 'reveal_frame');
