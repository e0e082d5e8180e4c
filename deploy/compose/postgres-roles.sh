#!/bin/sh
# Run once by the postgres image on an empty data directory (/docker-entrypoint-initdb.d):
# the review console's runtime role, which owns nothing. The owner ($POSTGRES_USER) migrates
# the store and grants it what the console needs (`vigil review migrate`, the review-migrate
# service); on the access log that is SELECT and INSERT only. docs/review.md#database-roles.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v password="${REVIEW_DB_PASSWORD:-vigil_console}" <<'SQL'
CREATE ROLE vigil_console LOGIN PASSWORD :'password';
SQL
