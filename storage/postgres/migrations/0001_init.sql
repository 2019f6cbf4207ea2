-- Gatehouse schema, version 1.
--
-- Each record is a row: its id, the whole record as JSON (data, which is
-- what the code reads), and the columns its look-ups, uniqueness rules and
-- expiry need, kept in step with data by every write. data is json, not
-- jsonb: jsonb refuses the escape \u0000, and a record holds any string
-- Go does (a request's state comes from outside); json keeps the text as
-- written, and ->> still reads fields for a filter. Times that are
-- compared are unix nanoseconds (bigint), exactly as the records hold them;
-- a record with no expiry where one is optional has NULL. Empty strings in
-- look-up columns are NULL, so they are in no index, as in bbolt.

CREATE TABLE org_units (
	id        text PRIMARY KEY,
	data json NOT NULL,
	parent_id text REFERENCES org_units (id)
);
-- One root.
CREATE UNIQUE INDEX org_units_one_root ON org_units ((true)) WHERE parent_id IS NULL;
CREATE INDEX org_units_by_parent ON org_units (parent_id);

CREATE TABLE users (
	id          text PRIMARY KEY,
	data json NOT NULL,
	username    text COLLATE "C" NOT NULL UNIQUE,
	email       text UNIQUE,
	org_unit_id text REFERENCES org_units (id),
	admin       boolean NOT NULL
);
-- Each unit's users in username order, for CountUsers, DeleteOrgUnit and
-- SearchUsers in units.
CREATE INDEX users_by_org_unit ON users (org_unit_id, username);
CREATE INDEX users_admins ON users (username) WHERE admin;

-- The terms SearchUsers finds a user by (storage.SearchTerms). Terms are
-- bytea so that the terms starting with a prefix are exactly one range of
-- the primary key, in byte order.
CREATE TABLE user_terms (
	term    bytea NOT NULL,
	user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	PRIMARY KEY (term, user_id)
);
CREATE INDEX user_terms_by_user ON user_terms (user_id, term);

CREATE TABLE methods (
	id         text PRIMARY KEY,
	data json NOT NULL,
	user_id    text,
	expires_ns bigint
);
CREATE INDEX methods_by_user ON methods (user_id);
CREATE INDEX methods_by_expiry ON methods (expires_ns) WHERE expires_ns IS NOT NULL;

CREATE TABLE exceptions (
	id      text PRIMARY KEY,
	data json NOT NULL,
	user_id text,
	state   text
);
CREATE INDEX exceptions_by_user ON exceptions (user_id);
CREATE INDEX exceptions_by_state ON exceptions (state);

CREATE TABLE challenges (
	id         text PRIMARY KEY,
	data json NOT NULL,
	expires_ns bigint NOT NULL
);
CREATE INDEX challenges_by_expiry ON challenges (expires_ns);

-- A protected app has app_host (lower case) and app_prefix; no two share
-- both. Other clients have neither.
CREATE TABLE clients (
	id         text PRIMARY KEY,
	data json NOT NULL,
	app_host   text,
	app_prefix text,
	UNIQUE (app_host, app_prefix)
);

CREATE TABLE auth_requests (
	id         text PRIMARY KEY,
	data json NOT NULL,
	expires_ns bigint NOT NULL
);
CREATE INDEX auth_requests_by_expiry ON auth_requests (expires_ns);

CREATE TABLE auth_codes (
	id         text PRIMARY KEY,
	data json NOT NULL,
	expires_ns bigint NOT NULL
);
CREATE INDEX auth_codes_by_expiry ON auth_codes (expires_ns);

CREATE TABLE access_tokens (
	id         text PRIMARY KEY,
	data json NOT NULL,
	family_id  text,
	subject    text,
	expires_ns bigint NOT NULL
);
CREATE INDEX access_tokens_by_family ON access_tokens (family_id);
CREATE INDEX access_tokens_by_subject ON access_tokens (subject);
CREATE INDEX access_tokens_by_expiry ON access_tokens (expires_ns);

CREATE TABLE refresh_tokens (
	id         text PRIMARY KEY,
	data json NOT NULL,
	family_id  text,
	user_id    text,
	expires_ns bigint NOT NULL
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_ns);

CREATE TABLE sessions (
	id         text PRIMARY KEY,
	data json NOT NULL,
	user_id    text,
	expires_ns bigint NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_ns);

-- A user has one device per browser.
CREATE TABLE remembered_devices (
	id           text PRIMARY KEY,
	data json NOT NULL,
	user_id      text NOT NULL,
	browser_hash bytea NOT NULL,
	expires_ns   bigint NOT NULL,
	UNIQUE (user_id, browser_hash)
);
CREATE INDEX remembered_devices_by_expiry ON remembered_devices (expires_ns);

CREATE TABLE attempts (
	id         text PRIMARY KEY,
	data json NOT NULL,
	expires_ns bigint NOT NULL
);
CREATE INDEX attempts_by_expiry ON attempts (expires_ns);

-- due_ns is NextAttemptAt while the notification is pending, else NULL.
CREATE TABLE notifications (
	id         text COLLATE "C" PRIMARY KEY,
	data json NOT NULL,
	user_id    text,
	due_ns     bigint,
	expires_ns bigint NOT NULL
);
CREATE INDEX notifications_by_user ON notifications (user_id);
CREATE INDEX notifications_due ON notifications (due_ns, id) WHERE due_ns IS NOT NULL;
CREATE INDEX notifications_by_expiry ON notifications (expires_ns);

CREATE TABLE app_passwords (
	id      text PRIMARY KEY,
	data json NOT NULL,
	user_id text
);
CREATE INDEX app_passwords_by_user ON app_passwords (user_id);

-- An audit event's id is its time (unix nanoseconds) then a number from
-- audit_seq, both as 16 hex digits: ids order events by time, ties in
-- append order, as bbolt's do.
CREATE SEQUENCE audit_seq;
CREATE TABLE audit (
	id          text COLLATE "C" PRIMARY KEY,
	data json NOT NULL,
	actor       text,
	subject     text,
	org_unit_id text,
	action      text COLLATE "C",
	outcome     text
);
CREATE INDEX audit_by_actor ON audit (actor, id);
CREATE INDEX audit_by_subject ON audit (subject, id);

-- Values kept whole: the signing key set, the settings, and each
-- purpose's secrets ("signing_keys", "settings", "secrets/<purpose>").
CREATE TABLE documents (
	key  text PRIMARY KEY,
	data json NOT NULL
);
