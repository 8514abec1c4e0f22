-- Onboarding (issue 21; docs/design/0030-onboarding.md), SQLite dialect. Keep in step with
-- ../postgres/0026_onboard.sql.

-- The invite code a building's printed poster carries (its QR code). The newest live one of a
-- building is the one the poster page prints; a registration with any of them came "from the
-- poster" (the figures' registrations by source).
CREATE TABLE onboard_posters (
    invite_code TEXT    NOT NULL PRIMARY KEY REFERENCES invites (code),
    building_id BIGINT  NOT NULL REFERENCES buildings (id),
    created_by  BIGINT  REFERENCES users (id),
    created_at  BIGINT  NOT NULL
);
CREATE INDEX onboard_posters_building ON onboard_posters (building_id, created_at);

-- A resident registered by staff at the management desk, and who did it, how and when. The
-- resident's consent is the privacy feature's row (privacy_consents, how = 'desk:<how>',
-- by_user_id = the staff member).
CREATE TABLE onboard_desk (
    user_id     BIGINT  NOT NULL PRIMARY KEY REFERENCES users (id),
    by_user_id  BIGINT  REFERENCES users (id),
    -- 'password' (staff set a first password) or 'code' (a printed one-time login code).
    mode        TEXT    NOT NULL,
    consent_how TEXT    NOT NULL,
    at          BIGINT  NOT NULL
);

-- An account that must choose its own password before it may log in: the first password staff
-- set (code_hash NULL) or a printed one-time code (sha256, valid until expires_at). The row goes
-- when the resident has set their password (/first-login).
CREATE TABLE onboard_first_login (
    user_id     BIGINT  NOT NULL PRIMARY KEY REFERENCES users (id),
    code_hash   TEXT,
    expires_at  BIGINT,
    created_at  BIGINT  NOT NULL
);

-- A helper a resident named (a family member with an account), or the desk's staff member when
-- the resident asked the desk: may act for the resident in requests, surveys and events, never
-- in votes or meeting resolutions. ended_at: ended by the resident or the helper.
CREATE TABLE onboard_helpers (
    id          INTEGER PRIMARY KEY,
    resident_id BIGINT  NOT NULL REFERENCES users (id),
    helper_id   BIGINT  NOT NULL REFERENCES users (id),
    created_by  BIGINT  REFERENCES users (id),
    created_at  BIGINT  NOT NULL,
    ended_at    BIGINT
);
CREATE INDEX onboard_helpers_resident ON onboard_helpers (resident_id);
CREATE INDEX onboard_helpers_helper ON onboard_helpers (helper_id);

-- What a helper did for a resident ("by helper for resident"), shown on the object and to the
-- resident. kind: 'request' (object_id: requests.id).
CREATE TABLE onboard_acts (
    kind        TEXT    NOT NULL,
    object_id   BIGINT  NOT NULL,
    resident_id BIGINT  NOT NULL REFERENCES users (id),
    helper_id   BIGINT  NOT NULL REFERENCES users (id),
    at          BIGINT  NOT NULL,
    PRIMARY KEY (kind, object_id)
);

-- The first-login tour of the residents' pages, seen (finished or skipped) by this account: it
-- is not offered again on any device.
CREATE TABLE onboard_tour_seen (
    user_id     BIGINT  NOT NULL PRIMARY KEY REFERENCES users (id),
    seen_at     BIGINT  NOT NULL
);
