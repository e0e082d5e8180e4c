-- Sign-in attempts per scope (crates/review/src/throttle.rs): the account from one client
-- address, one address for any account, one account from any address. Counted before the
-- password is checked; `not_before` is when the scope allows the next attempt. Keys are
-- account ids and addresses, never a typed name.
CREATE TABLE sign_in_throttle (
    scope      text NOT NULL CHECK (scope IN ('account_address', 'address', 'account')),
    key        text NOT NULL,
    attempts   integer NOT NULL,
    not_before timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);
