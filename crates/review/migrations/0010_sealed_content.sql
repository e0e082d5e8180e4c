-- Content sealed by the console (crates/review/src/sealing.rs): flag_content.text_utf8,
-- flag_images.data and .preview, flag_video_frames.thumbnail and .preview hold
-- XChaCha20-Poly1305 ciphertext under the flag's own data key, stored here wrapped by the
-- key-encryption key kek_id names (review.content_key_file). Deleting a row destroys the key;
-- the purge does so with the content. A flag without a row was stored before this migration.
CREATE TABLE flag_keys (
    flag_id   text PRIMARY KEY REFERENCES flags (flag_id) ON DELETE CASCADE,
    kek_id    text NOT NULL,
    wrapped   bytea NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX flag_keys_kek ON flag_keys (kek_id);
