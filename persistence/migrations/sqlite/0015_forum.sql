-- The forum (issue 14), SQLite dialect. Keep in step with ../postgres/0015_forum.sql: same
-- tables, columns and index names; only the id columns differ. Flags are INTEGER 0/1.

-- A category: a place for topics, scoped to the whole neighbourhood ('all'), one building
-- ('building:<id>') or an interest group ('group:<slug>'): the scope says who reads it.
-- start_by / reply_by: 'anyone' (who reads it) or 'staff' (a read-only 公告討論 category).
CREATE TABLE forum_categories (
    id          INTEGER PRIMARY KEY,
    slug        TEXT    NOT NULL,
    name_zh     TEXT    NOT NULL,
    name_en     TEXT    NOT NULL,
    description TEXT    NOT NULL,
    colour      TEXT    NOT NULL,  -- '#rrggbb'
    position    INTEGER NOT NULL,
    scope       TEXT    NOT NULL,
    start_by    TEXT    NOT NULL,
    reply_by    TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);
CREATE UNIQUE INDEX forum_categories_slug ON forum_categories (slug);

-- A topic. last_number is the number of its newest post (posts are numbered 1, 2, 3 … within
-- the topic, densely: the number is taken from this row in the transaction that writes the
-- post, so concurrent replies queue on the row and get one number each). version grows with
-- every change of the topic's own state (pinned, closed, moved, solved), for live clients.
CREATE TABLE forum_topics (
    id             INTEGER PRIMARY KEY,
    category_id    BIGINT  NOT NULL REFERENCES forum_categories (id),
    title          TEXT    NOT NULL,
    author_id      BIGINT  NOT NULL REFERENCES users (id),
    created_at     BIGINT  NOT NULL,
    last_post_at   BIGINT  NOT NULL,
    last_number    INTEGER NOT NULL,
    pinned         INTEGER NOT NULL DEFAULT 0,
    closed         INTEGER NOT NULL DEFAULT 0,
    solved_post_id BIGINT,
    version        BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX forum_topics_category ON forum_topics (category_id, pinned, last_post_at);

-- A post: number 1 is the topic's first post. source is the author's Markdown, html its
-- sanitised rendering (linli/richtext.py), stored so pages never render on read. client_id
-- makes a retried submit a no-op (unique per author). edits counts the edits (history in
-- forum_post_edits); deleted keeps the post's place ("deleted") with its text gone.
CREATE TABLE forum_posts (
    id                INTEGER PRIMARY KEY,
    topic_id          BIGINT  NOT NULL REFERENCES forum_topics (id),
    number            INTEGER NOT NULL,
    author_id         BIGINT  NOT NULL REFERENCES users (id),
    source            TEXT    NOT NULL,
    html              TEXT    NOT NULL,
    client_id         TEXT    NOT NULL,
    created_at        BIGINT  NOT NULL,
    edited_at         BIGINT,
    edits             INTEGER NOT NULL DEFAULT 0,
    deleted           INTEGER NOT NULL DEFAULT 0,
    reaction_version  BIGINT  NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX forum_posts_number ON forum_posts (topic_id, number);
CREATE UNIQUE INDEX forum_posts_client ON forum_posts (author_id, client_id);

-- Every earlier text of an edited post: revision 1 is what was first posted.
CREATE TABLE forum_post_edits (
    post_id    BIGINT  NOT NULL REFERENCES forum_posts (id),
    revision   INTEGER NOT NULL,
    source     TEXT    NOT NULL,
    html       TEXT    NOT NULL,
    written_at BIGINT  NOT NULL,
    PRIMARY KEY (post_id, revision)
);

-- One row per person, post and reaction: the key makes a retried reaction a no-op.
CREATE TABLE forum_reactions (
    post_id    BIGINT  NOT NULL REFERENCES forum_posts (id),
    user_id    BIGINT  NOT NULL REFERENCES users (id),
    emoji      TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (post_id, user_id, emoji)
);

-- How far each person has read each topic (the highest post number seen), for every device.
CREATE TABLE forum_reads (
    user_id    BIGINT  NOT NULL REFERENCES users (id),
    topic_id   BIGINT  NOT NULL REFERENCES forum_topics (id),
    last_read  INTEGER NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (user_id, topic_id)
);

-- Follow or mute a topic ('follow' | 'mute'); no row: the default (authors and repliers are
-- told of replies, others not).
CREATE TABLE forum_watches (
    user_id  BIGINT NOT NULL REFERENCES users (id),
    topic_id BIGINT NOT NULL REFERENCES forum_topics (id),
    level    TEXT   NOT NULL,
    PRIMARY KEY (user_id, topic_id)
);

-- A picture uploaded for a post: its bytes (and a thumbnail) are blobs (persistence/blobs);
-- post_id is NULL until the post it was uploaded for is written (only its uploader may attach
-- it, once).
CREATE TABLE forum_images (
    id           INTEGER PRIMARY KEY,
    blob_id      TEXT    NOT NULL,
    thumb_id     TEXT    NOT NULL,
    uploader_id  BIGINT  NOT NULL REFERENCES users (id),
    post_id      BIGINT  REFERENCES forum_posts (id),
    filename     TEXT    NOT NULL,
    media_type   TEXT    NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    created_at   BIGINT  NOT NULL
);
CREATE INDEX forum_images_post ON forum_images (post_id);
