-- Version 2: measuring a cohort. Survey answers, exercise progress and capstone reviews.
-- Survey answers are keyed by respondent_key only, never by participant id, name or email.

CREATE TABLE survey_answer (
    survey TEXT NOT NULL,                   -- the definition's id: weekly, exit, followup_3m, …
    version INTEGER NOT NULL,               -- the definition's version the answers were checked against
    week INTEGER NOT NULL DEFAULT 0,        -- cohort week for weekly feedback, else 0
    respondent_key TEXT NOT NULL,
    question TEXT NOT NULL,
    value TEXT NOT NULL,                    -- a number for ratings and agreement, else the text
    PRIMARY KEY (survey, week, respondent_key, question)
);

-- Learners' `arena progress export` files, keyed by the handle they chose (a nickname).
CREATE TABLE progress (
    handle TEXT NOT NULL,
    section TEXT NOT NULL,
    total INTEGER NOT NULL CHECK (total >= 0),
    passed INTEGER NOT NULL CHECK (passed >= 0 AND passed <= total),
    PRIMARY KEY (handle, section)
);

CREATE TABLE capstone_project (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL
);

CREATE TABLE capstone_member (
    project_id TEXT NOT NULL REFERENCES capstone_project(id) ON DELETE CASCADE,
    participant_id INTEGER NOT NULL REFERENCES participant(id),
    PRIMARY KEY (project_id, participant_id)
);

CREATE TABLE capstone_reviewer (
    project_id TEXT NOT NULL REFERENCES capstone_project(id) ON DELETE CASCADE,
    reviewer_id INTEGER NOT NULL REFERENCES participant(id),
    PRIMARY KEY (project_id, reviewer_id)
);

CREATE TABLE capstone_score (
    project_id TEXT NOT NULL,
    reviewer_id INTEGER NOT NULL,
    criterion TEXT NOT NULL,
    score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    PRIMARY KEY (project_id, reviewer_id, criterion),
    FOREIGN KEY (project_id, reviewer_id) REFERENCES capstone_reviewer(project_id, reviewer_id) ON DELETE CASCADE
);
