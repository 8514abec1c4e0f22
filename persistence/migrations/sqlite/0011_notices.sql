-- Notices (公告) and their reach per household, SQLite dialect. Keep in step with
-- ../postgres/0011_notices.sql. Design: docs/design/0017-notices.md.
--
-- Reach is rows, never counters: a unit has seen a notice when notice_unit_reads has its row,
-- acknowledged when notice_acks has; the primary keys make several residents of one unit (at
-- the same moment, on different gateways) one row. Staff without a unit leave a row in
-- notice_user_reads only (their unread marker), never in the units' tables.
-- The floor of a unit is not a column: it is read from the unit's label ("12A" -> 12), in
-- Python, so it can never disagree with the label residents see (design 0017).

CREATE TABLE notice_categories (
    id          INTEGER PRIMARY KEY,
    slug        TEXT    NOT NULL,
    name_zh     TEXT    NOT NULL,
    name_en     TEXT    NOT NULL,
    position    INTEGER NOT NULL DEFAULT 0,
    archived    INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX notice_categories_slug ON notice_categories (slug);

INSERT INTO notice_categories (slug, name_zh, name_en, position) VALUES
    ('utilities', '停水停電', 'Water and power cuts', 10),
    ('repairs', '維修工程', 'Repairs and works', 20),
    ('finance', '財務', 'Finance', 30),
    ('minutes', '會議紀錄', 'Meeting minutes', 40),
    ('events', '活動', 'Events', 50),
    ('safety', '安全', 'Safety', 60),
    ('other', '其他', 'Other', 70);

CREATE TABLE notices (
    id              INTEGER PRIMARY KEY,
    category_id     BIGINT  NOT NULL REFERENCES notice_categories (id),
    title           TEXT    NOT NULL,
    body            TEXT    NOT NULL,           -- Markdown, as written
    body_html       TEXT    NOT NULL,           -- linli.richtext.render(body), made on write
    urgent          INTEGER NOT NULL,
    requires_ack    INTEGER NOT NULL,
    pinned          INTEGER NOT NULL,
    -- JSON: {"kind": "all"} | {"kind": "buildings", "buildings": [1]} |
    -- {"kind": "floors", "floors": [[1, 12]]} | {"kind": "units", "units": [5]}
    audience        TEXT    NOT NULL,
    state           TEXT    NOT NULL,           -- 'draft', 'scheduled', 'published', 'expired', 'retracted'
    publish_at      BIGINT,
    expire_at       BIGINT,
    published_at    BIGINT,
    expired_at      BIGINT,
    retracted_at    BIGINT,
    retracted_by    BIGINT  REFERENCES users (id),
    retract_reason  TEXT,
    -- Grows with every edit (the history's revision numbers) and every change of state.
    version         BIGINT  NOT NULL DEFAULT 1,
    created_by      BIGINT  NOT NULL REFERENCES users (id),
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
CREATE INDEX notices_state_published ON notices (state, published_at);
CREATE INDEX notices_category ON notices (category_id);

-- One row per revision: revision 1 is the notice as first written; an edit adds the new text
-- with who, when and which fields changed.
CREATE TABLE notice_revisions (
    notice_id   BIGINT  NOT NULL REFERENCES notices (id),
    revision    BIGINT  NOT NULL,
    title       TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    category_id BIGINT  NOT NULL,
    changed     TEXT    NOT NULL,               -- JSON array of the field names this revision changed
    edited_by   BIGINT  NOT NULL REFERENCES users (id),
    edited_at   BIGINT  NOT NULL,
    PRIMARY KEY (notice_id, revision)
);

CREATE TABLE notice_attachments (
    id          INTEGER PRIMARY KEY,
    notice_id   BIGINT  NOT NULL REFERENCES notices (id),
    blob_id     TEXT    NOT NULL,               -- persistence/blobs
    thumb_id    TEXT,                           -- an image's thumbnail blob
    filename    TEXT    NOT NULL,
    media_type  TEXT    NOT NULL,
    size        BIGINT  NOT NULL,
    sha256      TEXT    NOT NULL,
    width       INTEGER,
    height      INTEGER,
    added_by    BIGINT  NOT NULL REFERENCES users (id),
    added_at    BIGINT  NOT NULL
);
CREATE INDEX notice_attachments_notice ON notice_attachments (notice_id);

CREATE TABLE notice_user_reads (
    notice_id   BIGINT  NOT NULL REFERENCES notices (id),
    user_id     BIGINT  NOT NULL REFERENCES users (id),
    read_at     BIGINT  NOT NULL,
    PRIMARY KEY (notice_id, user_id)
);
CREATE INDEX notice_user_reads_user ON notice_user_reads (user_id);

CREATE TABLE notice_unit_reads (
    notice_id   BIGINT  NOT NULL REFERENCES notices (id),
    unit_id     BIGINT  NOT NULL REFERENCES units (id),
    user_id     BIGINT  NOT NULL REFERENCES users (id),  -- the first resident who opened it
    read_at     BIGINT  NOT NULL,
    PRIMARY KEY (notice_id, unit_id)
);

CREATE TABLE notice_acks (
    notice_id   BIGINT  NOT NULL REFERENCES notices (id),
    unit_id     BIGINT  NOT NULL REFERENCES units (id),
    user_id     BIGINT  NOT NULL REFERENCES users (id),  -- who acknowledged for the unit
    acked_at    BIGINT  NOT NULL,
    PRIMARY KEY (notice_id, unit_id)
);
