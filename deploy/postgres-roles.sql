-- Least privilege on PostgreSQL: who may do what in a lead-retention store.
--
-- Three roles:
--   * the owner (the role that runs this file and `retention db upgrade`): owns the tables and
--     the triggers that keep audit_events append-only;
--   * retention_jobs: what the jobs and the commands need (purge, erasure, import, requests,
--     holds, status): read and write the lead tables, but on audit_events only INSERT and
--     SELECT (no UPDATE, DELETE or TRUNCATE: the chain stays append-only even if the
--     triggers were dropped);
--   * retention_readonly: `retention status` and reporting: SELECT only.
--
-- Run it as the owner, in the store's database, after every `retention db upgrade` (a new
-- table needs its grants; every statement here may run again):
--   psql "$OWNER_URL" -v ON_ERROR_STOP=1 -f deploy/postgres-roles.sql
-- then give the two roles their passwords (never in a file):
--   psql "$OWNER_URL" -c "\password retention_jobs"
--   psql "$OWNER_URL" -c "\password retention_readonly"
-- and point the jobs at postgresql+psycopg://retention_jobs@HOST/DB, status and reports at
-- postgresql+psycopg://retention_readonly@HOST/DB (RETENTION_DATABASE_URL).
--
-- VACUUM after a run needs the table's owner (or, from PostgreSQL 17, the MAINTAIN privilege,
-- granted below when the server has it); without it the jobs report the dead rows left in
-- `residue` and autovacuum prunes them.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'retention_jobs') THEN
        CREATE ROLE retention_jobs LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'retention_readonly') THEN
        CREATE ROLE retention_readonly LOGIN;
    END IF;
    -- The import stages rewritten leads in a temporary table.
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO retention_jobs', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO retention_readonly', current_database());
END
$$;

GRANT USAGE ON SCHEMA public TO retention_jobs, retention_readonly;

-- The jobs: the lead store and its bookkeeping.
GRANT SELECT, INSERT, UPDATE, DELETE ON
    leads, lead_subjects, erasure_requests, legal_holds, job_runs, job_checks, store_meta,
    audit_counts
    TO retention_jobs;
GRANT SELECT, UPDATE ON audit_head TO retention_jobs;
-- The evidence: appended and read, never changed.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM retention_jobs;
GRANT SELECT, INSERT ON audit_events TO retention_jobs;
GRANT SELECT ON alembic_version TO retention_jobs;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO retention_jobs;

-- Status and reports: read everything, change nothing.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO retention_readonly;

DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 170000 THEN
        EXECUTE 'GRANT MAINTAIN ON leads, lead_subjects, erasure_requests TO retention_jobs';
    END IF;
END
$$;
