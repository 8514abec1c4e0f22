-- Notifications (docs/design/0013-notifications.md): the inbox, each user's preferences and
-- quiet hours, rooms followed or muted, Web Push subscriptions, and one row per delivery
-- attempt target (push to a device, an e-mail) with its outcome. Booleans are INTEGER 0/1 as
-- elsewhere.

-- One row per (user, source_key): a notify request retried (a redelivered batch) writes nothing
-- twice.
CREATE TABLE notifications (
    id          INTEGER PRIMARY KEY,
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source_key  TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    urgent      INTEGER NOT NULL,
    text_zh     TEXT    NOT NULL,
    text_en     TEXT    NOT NULL,
    link        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    read_at     BIGINT
);
CREATE UNIQUE INDEX notifications_user_source ON notifications (user_id, source_key);
CREATE INDEX notifications_user_id ON notifications (user_id, id);
CREATE INDEX notifications_source ON notifications (source_key);
CREATE INDEX notifications_created_at ON notifications (created_at);

-- Only the choices a user changed; the defaults are in the code (persistence/notifications/).
CREATE TABLE notify_prefs (
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    enabled     INTEGER NOT NULL,
    PRIMARY KEY (user_id, kind, channel)
);

-- quiet_start / quiet_end: minutes after local midnight (LINLI_TIME_ZONE); equal means none.
CREATE TABLE notify_settings (
    user_id           BIGINT  NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    quiet_start       INTEGER NOT NULL,
    quiet_end         INTEGER NOT NULL,
    email             TEXT,
    digest            TEXT    NOT NULL,
    unsubscribe_token TEXT    NOT NULL,
    last_digest_at    BIGINT
);
CREATE UNIQUE INDEX notify_settings_unsubscribe ON notify_settings (unsubscribe_token);

-- mode: follow (every message notifies) or mute (nothing does, mentions included).
CREATE TABLE notify_rooms (
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel     TEXT    NOT NULL,
    mode        TEXT    NOT NULL,
    PRIMARY KEY (user_id, channel)
);
CREATE INDEX notify_rooms_channel ON notify_rooms (channel, mode);

CREATE TABLE push_subscriptions (
    id          INTEGER PRIMARY KEY,
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endpoint    TEXT    NOT NULL,
    p256dh      TEXT    NOT NULL,
    auth        TEXT    NOT NULL,
    label       TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    last_ok_at  BIGINT
);
CREATE UNIQUE INDEX push_subscriptions_endpoint ON push_subscriptions (endpoint);
CREATE INDEX push_subscriptions_user_id ON push_subscriptions (user_id);

-- One row per notification and target: 'push:<subscription id>' or 'email:<address>'.
-- state: pending (due_at says when), sent, failed (gave up, last_error says why), gone (the
-- subscription expired: 404/410). A claim (claimed_by, claimed_until) is a lease, as for timers.
CREATE TABLE notify_deliveries (
    id              INTEGER PRIMARY KEY,
    notification_id BIGINT  NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    channel         TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    due_at          BIGINT  NOT NULL,
    attempts        INTEGER NOT NULL,
    claimed_by      TEXT,
    claimed_until   BIGINT,
    last_error      TEXT,
    updated_at      BIGINT  NOT NULL
);
CREATE UNIQUE INDEX notify_deliveries_target ON notify_deliveries (notification_id, channel, target);
CREATE INDEX notify_deliveries_due ON notify_deliveries (state, due_at);

-- Secrets Linli makes for itself on first start (the VAPID key pair), kept across restarts.
CREATE TABLE instance_secrets (
    name        TEXT    NOT NULL PRIMARY KEY,
    value       TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);
