// The shapes of the moderators' pages (/mod, /mod/words, /mod/threshold): what
// GET /api/mod/queue adds to types.d.ts's FlaggedMessage for the redesigned page (docs/protocol.md).
import type { FlaggedMessage, HeldForReview } from "./types.js";

/** One entry of an item's history: the moderation audit entries about the message. */
export interface HistoryEntry {
  id: number;
  at: number;
  action: string;
  /** null: the system (the auto-hide rule). */
  actor: { id: number; name: string } | null;
  reason: string;
  detail: Record<string, unknown>;
  /** A mute's or ban's: the room it applies to (null: every room) ... */
  applies_to?: string | null;
  /** ... and the message that prompted it. */
  because?: import("./types.js").SanctionCause;
}

/** Whether the author is muted or banned now. */
export interface AuthorStatus {
  state: "free" | "muted" | "banned";
  until?: number | null;
  channel?: string | null;
  reason?: string;
}

export interface ModItem extends FlaggedMessage {
  room: string;
  history: HistoryEntry[];
  author_status: AuthorStatus | null;
  deleted_at: number | null;
  text_purged: boolean;
}

export interface ModHeld extends HeldForReview {
  room: string;
}

export interface ModQueueBody {
  messages: ModItem[];
  held: ModHeld[];
  /** The authors' open appeals (web/static/js/mod_appeals.js). */
  appeals?: import("./types.js").Appeal[];
}

/** POST /api/mod/words/test */
export interface WordTestBody {
  matched: { id: number; pattern: string; action: "block" | "hold" } | null;
}
