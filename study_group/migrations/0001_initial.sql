-- Version 1: roster, groups, pairs, Slack channels and the outbox.
-- Later features (surveys, progress import, capstone reviews) add their own numbered files;
-- never edit a released migration.

CREATE TABLE participant (
    id INTEGER PRIMARY KEY,
    email TEXT UNIQUE,                      -- NULL once forgotten
    name TEXT,                              -- NULL once forgotten
    slack_id TEXT,                          -- NULL once forgotten
    timezone TEXT,                          -- NULL once forgotten
    role TEXT NOT NULL CHECK (role IN ('learner', 'facilitator')),
    experience TEXT NOT NULL,
    pairing_opt_out INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'withdrawn', 'forgotten')),
    respondent_key TEXT NOT NULL UNIQUE,    -- random; links anonymous survey answers, never the person
    consent_followup_at TEXT,               -- when they agreed to follow-up surveys (UTC ISO), or NULL
    created_at TEXT NOT NULL,
    forgotten_at TEXT
);

CREATE TABLE availability (
    participant_id INTEGER NOT NULL REFERENCES participant(id) ON DELETE CASCADE,
    weekday INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),   -- local weekday, Monday = 0
    start_minute INTEGER NOT NULL,                               -- local minutes after midnight
    end_minute INTEGER NOT NULL
);

CREATE TABLE channel (
    key TEXT PRIMARY KEY,                   -- 'announcements', 'group-3'
    name TEXT NOT NULL UNIQUE,
    channel_id TEXT,
    topic_sha TEXT                          -- sha of the topic last set, so a re-run sets nothing
);

CREATE TABLE study_group (
    number INTEGER PRIMARY KEY,
    weekday INTEGER NOT NULL,               -- in the cohort's time zone
    start_minute INTEGER NOT NULL,
    facilitator_id INTEGER NOT NULL REFERENCES participant(id),
    channel_key TEXT NOT NULL REFERENCES channel(key)
);

CREATE TABLE membership (
    group_number INTEGER NOT NULL REFERENCES study_group(number),
    participant_id INTEGER NOT NULL REFERENCES participant(id),
    from_week INTEGER NOT NULL DEFAULT 1,
    to_week INTEGER,
    PRIMARY KEY (group_number, participant_id, from_week)
);

CREATE TABLE pair_round (
    week INTEGER PRIMARY KEY,
    seed INTEGER NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE pair (
    week INTEGER NOT NULL REFERENCES pair_round(week),
    a INTEGER NOT NULL REFERENCES participant(id),
    b INTEGER NOT NULL REFERENCES participant(id),
    c INTEGER REFERENCES participant(id),   -- a trio when the count is odd
    overlap_minutes INTEGER NOT NULL,
    first_shared_at INTEGER                 -- UTC epoch of their first common free hour that week
);

-- Slack side effects other than posts (invites, bookmarks, joins): done once, remembered.
CREATE TABLE slack_action (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done')),
    updated_at TEXT NOT NULL
);

-- Every Slack post. `source` says which module planned it (content, pairs, later surveys), so
-- each module replaces only its own rows. States:
--   planned    wanted, not yet sent (or deferred beyond the horizon)
--   sending    the call left; outcome unknown until it answers or `reconcile` lists Slack
--   scheduled  Slack holds it (scheduled_message_id)
--   cancel     no longer wanted; Slack still holds it until the next sync deletes it
--   cancelled  deleted from Slack, or never sent
--   failed     Slack refused it (last_error); a re-run retries
--   uncertain  sent, unanswered, and its time has passed: an organiser must look
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    idem_key TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,                   -- 'channel:<key>' or 'dm:<participant ids>'
    channel_id TEXT,
    post_at INTEGER NOT NULL,               -- planned time, UTC epoch seconds
    scheduled_for INTEGER,                  -- the time Slack was given (later, if sent late)
    text TEXT NOT NULL,
    payload_sha TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('planned', 'sending', 'scheduled', 'cancel', 'cancelled', 'failed', 'uncertain')),
    scheduled_message_id TEXT,
    stale_message_id TEXT,                  -- an edited post's old copy, deleted before rescheduling
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX outbox_state ON outbox(state, post_at);

CREATE TABLE run_log (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    command TEXT NOT NULL,
    applied INTEGER NOT NULL,
    summary TEXT NOT NULL
);
