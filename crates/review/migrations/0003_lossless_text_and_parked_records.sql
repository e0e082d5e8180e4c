-- Message text as UTF-8 bytes: PostgreSQL's text type refuses U+0000, which a DM may carry,
-- and a refused row must never hold up the flags behind it. Stored losslessly; the console
-- shows control characters as visible marks.
ALTER TABLE flag_content ALTER COLUMN text TYPE bytea USING convert_to(text, 'UTF8');
ALTER TABLE flag_content RENAME COLUMN text TO text_utf8;

-- A review record kept instead of stored (not a flag, or a flag the database refused): the
-- record as read, so a lead can see what it was. Flags carry ids and evidence, no content.
ALTER TABLE rejected_records ADD COLUMN payload bytea;
