-- The latest decision of each decided flag (a lead's after a reviewer's escalation): what the
-- precision figures count.
CREATE VIEW latest_decisions AS
    SELECT DISTINCT ON (flag_id) flag_id, decision FROM decisions ORDER BY flag_id, id DESC;
