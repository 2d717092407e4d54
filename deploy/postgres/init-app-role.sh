#!/bin/sh
# First start of the database container: the login the Greenlight processes use, with a
# password (migration 0003 then only adjusts its attributes and grants; it never owns anything).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v pw="$GREENLIGHT_APP_PASSWORD" <<'SQL'
CREATE ROLE greenlight_app LOGIN PASSWORD :'pw';
SQL
