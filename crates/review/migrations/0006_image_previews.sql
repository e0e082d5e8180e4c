-- Blurred previews rendered once at ingest (crates/review/src/preview.rs), so the console
-- never decodes an image while a reviewer waits; preview_note says why an image has none.
-- Images stored before this have neither: their preview is a grey placeholder.
ALTER TABLE flag_images ADD COLUMN preview bytea;
ALTER TABLE flag_images ADD COLUMN preview_note text;
