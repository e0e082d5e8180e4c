-- Tamper evidence for the access log. The table is append-only for the console's role by
-- grants (SELECT and INSERT only; `vigil review migrate` gives them) and by the triggers of
-- 0001; against its owner, each row carries the SHA-256 of the previous row's hash and of its
-- own fields, computed by the database as the row is added. `vigil review verify-log`
-- recomputes the chain and names the first row that does not fit: a row changed, removed or
-- slipped in breaks it.
ALTER TABLE access_log ADD COLUMN prev_hash bytea;
ALTER TABLE access_log ADD COLUMN row_hash bytea;

-- One field of the canonical encoding: its length in bytes, ':', the text, ';'. NULL is '-;'.
CREATE FUNCTION access_log_field(v text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN v IS NULL THEN '-;' ELSE octet_length(v)::text || ':' || v || ';' END
$$;

-- The fields a row's hash covers, in order; the time as microseconds since the epoch, so the
-- encoding depends on no session setting. crates/review/src/chain.rs encodes the same.
CREATE FUNCTION access_log_canonical(r access_log) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_to(
        access_log_field(r.id::text)
        || access_log_field(((extract(epoch FROM r.at) * 1000000)::bigint)::text)
        || access_log_field(r.reviewer_id::text)
        || access_log_field(r.actor)
        || access_log_field(r.role)
        || access_log_field(r.action)
        || access_log_field(r.flag_id)
        || access_log_field(r.attachment_id)
        || access_log_field(r.detail)
        || access_log_field(r.remote_addr),
        'UTF8')
$$;

-- Rows are numbered and chained one writer at a time (a transaction-scoped lock, held until
-- commit), so ids and the chain follow the order rows were added. The id is given here, not
-- by a column default taken before the lock.
CREATE FUNCTION access_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    previous bytea;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        -- An older snapshot would not see the row committed just before.
        RAISE EXCEPTION 'access_log rows are added in read committed transactions only';
    END IF;
    PERFORM pg_advisory_xact_lock(7412683501);
    NEW.id := nextval('access_log_id_seq');
    SELECT row_hash INTO previous FROM access_log ORDER BY id DESC LIMIT 1;
    NEW.prev_hash := coalesce(previous, decode(repeat('00', 32), 'hex'));
    NEW.row_hash := sha256(NEW.prev_hash || access_log_canonical(NEW));
    RETURN NEW;
END;
$$;
ALTER TABLE access_log ALTER COLUMN id DROP DEFAULT;
CREATE TRIGGER access_log_chain BEFORE INSERT ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_chain();

-- The rows written before this migration join the chain in id order.
ALTER TABLE access_log DISABLE TRIGGER access_log_no_update;
DO $$
DECLARE
    r access_log;
    previous bytea := decode(repeat('00', 32), 'hex');
BEGIN
    FOR r IN SELECT * FROM access_log ORDER BY id LOOP
        UPDATE access_log
           SET prev_hash = previous, row_hash = sha256(previous || access_log_canonical(r))
         WHERE id = r.id
        RETURNING row_hash INTO previous;
    END LOOP;
END;
$$;
ALTER TABLE access_log ENABLE TRIGGER access_log_no_update;
