-- Containing false positives (issue 25): decisions per match, and what vigil run's entry
-- state said of each flag's entries.

-- A decision taken match by match: the outcome of each of the flag's matches (by ordinal in
-- flag_matches). A decision without rows here decided every match alike.
CREATE TABLE decision_matches (
    decision_id bigint NOT NULL REFERENCES decisions (id) ON DELETE CASCADE,
    ordinal     integer NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('confirmed', 'false_positive')),
    PRIMARY KEY (decision_id, ordinal)
);

-- Per matched entry: distinct conversations lately and the quarantine reason (the flag's
-- `entries`).
ALTER TABLE flags ADD COLUMN entries jsonb NOT NULL DEFAULT '[]';

CREATE OR REPLACE VIEW latest_decisions AS
    SELECT DISTINCT ON (flag_id) flag_id, decision, id AS decision_id
    FROM decisions ORDER BY flag_id, id DESC;

-- Each match of a decided flag with its outcome under the flag's latest decision: the
-- per-match outcome where the reviewer gave one, else the decision's (none for an
-- escalation). What precision per list version and entry counts.
CREATE VIEW match_outcomes AS
    SELECT m.flag_id, m.ordinal, m.detector, m.list, m.list_version, m.category, m.entry,
           l.decision,
           coalesce(dm.outcome, CASE l.decision WHEN 'confirm' THEN 'confirmed'
                                                WHEN 'false_positive' THEN 'false_positive'
                                END) AS outcome
    FROM flag_matches m
    JOIN latest_decisions l USING (flag_id)
    LEFT JOIN decision_matches dm ON dm.decision_id = l.decision_id AND dm.ordinal = m.ordinal;
