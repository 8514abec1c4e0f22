-- Search (issue 20), SQLite dialect. Keep in step with ../postgres/0017_search.sql: same
-- tables, columns, constraints and index names.
--
-- Plain tables, no full-text extension: the application folds and tokenises the text
-- (persistence/search/text.py: CJK unigrams and bigrams, Latin words), so both databases index
-- and match exactly alike. docs/design/0023-search.md has the alternatives and the figures.

-- One row per indexed thing, unique per (kind, ref). folded is the folded title, a U+001F, and
-- the folded text: what a query's terms are matched against (LIKE), and what the postings were
-- made from (an update removes the old postings by recomputing them from it). channel/offset
-- are set for chat messages only, so moderation's hidden state (mod_messages) applies.
CREATE TABLE search_docs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL,
    ref         TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    folded      TEXT    NOT NULL,
    link        TEXT    NOT NULL,
    at          BIGINT  NOT NULL,
    place       TEXT    NOT NULL,
    place_name  TEXT    NOT NULL,
    author_id   BIGINT,
    author_name TEXT    NOT NULL,
    channel     TEXT,
    "offset"    BIGINT,
    scopes      TEXT    NOT NULL,  -- its reader scopes, space-separated (see search_terms)
    indexed_at  BIGINT  NOT NULL,
    CONSTRAINT search_docs_kind_ref UNIQUE (kind, ref)
);
-- What a query needs of every candidate to count it, drop a hidden chat message and find the
-- newest page, without reading the wide row; only the page's rows are read whole.
CREATE INDEX search_docs_recent ON search_docs (id, at, channel, "offset");

-- The postings: one row per distinct token, reader scope and document, so a query reads only
-- the postings of what the viewer may read (a chat message has one scope, its room: as many
-- rows as tokens). Scopes: 'public', 'building:<id>', 'group:<slug>', 'user:<id>',
-- 'role:<role>', 'duty:<duty>', 'room:<channel>' (persistence/search/__init__.py Readers).
-- No foreign key and no index on doc_id: a cascade would scan the whole table per document;
-- the store deletes a document's postings by their keys, recomputed from search_docs.folded
-- and search_docs.scopes.
CREATE TABLE search_terms (
    term        TEXT    NOT NULL,
    scope       TEXT    NOT NULL,
    doc_id      BIGINT  NOT NULL,
    PRIMARY KEY (term, scope, doc_id)
) WITHOUT ROWID;
