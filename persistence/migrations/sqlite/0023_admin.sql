-- The admin console (issue 21), SQLite dialect. Keep in step with ../postgres/0023_admin.sql.
--
-- Buildings and units stay the core's tables (buildings, units); the console adds what a CSV of
-- the register carries beside the label: the floor, the ownership share and the household size.
-- share_ppm is the share in millionths (1 ‰ = 1000): an owners' meeting counts shares as integers
-- (meeting_units.share, "any integer unit"), and the import keeps a unit of the register in step.

CREATE TABLE admin_units (
    unit_id         BIGINT  NOT NULL PRIMARY KEY REFERENCES units (id),
    floor           TEXT    NOT NULL,
    share_ppm       BIGINT  NOT NULL CHECK (share_ppm >= 0),
    household_size  INTEGER NOT NULL CHECK (household_size >= 0),
    updated_at      BIGINT  NOT NULL
);

-- A disabled account: refused at login (a login check), its sessions ended when disabled.
CREATE TABLE admin_disabled_users (
    user_id      BIGINT  NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    disabled_at  BIGINT  NOT NULL,
    disabled_by  BIGINT  REFERENCES users (id),
    reason       TEXT    NOT NULL
);

-- One-time password reset codes, stored hashed (sha256 of user id and code): the code is shown
-- once to the admin who issued it. Issuing a new code removes the user's unused ones.
CREATE TABLE admin_reset_codes (
    id          INTEGER PRIMARY KEY,
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   TEXT    NOT NULL,
    expires_at  BIGINT  NOT NULL,
    created_by  BIGINT  REFERENCES users (id),
    created_at  BIGINT  NOT NULL,
    used_at     BIGINT
);
CREATE INDEX admin_reset_codes_user ON admin_reset_codes (user_id);

-- What the core's invites table does not say: the unit an invite is for (NULL: any unit of its
-- building), how many uses it was issued with, who issued it, and whether it was revoked
-- (revoking also sets invites.uses_left to 0, so registration refuses it as before).
CREATE TABLE admin_invites (
    code        TEXT    NOT NULL PRIMARY KEY REFERENCES invites (code),
    unit_id     BIGINT  REFERENCES units (id),
    uses        INTEGER NOT NULL,
    created_by  BIGINT  REFERENCES users (id),
    revoked_at  BIGINT,
    revoked_by  BIGINT  REFERENCES users (id)
);

-- Which resident registered with which code.
CREATE TABLE admin_invite_uses (
    code        TEXT    NOT NULL,
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    used_at     BIGINT  NOT NULL,
    PRIMARY KEY (code, user_id)
);

-- Settings an admin changes at run time (the environment's LINLI_* settings are read-only).
CREATE TABLE admin_settings (
    key         TEXT    NOT NULL PRIMARY KEY,
    value       TEXT    NOT NULL,
    updated_at  BIGINT  NOT NULL,
    updated_by  BIGINT  REFERENCES users (id)
);
