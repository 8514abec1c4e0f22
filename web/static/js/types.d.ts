// What the pages' scripts exchange with the server, for the type check only (tsconfig.json):
// the WebSocket protocol's frames (docs/protocol.md; gateway/wire.py is the reference) and the
// HTTP API bodies the pages read. Nothing loads this file at run time; scripts name its types in
// JSDoc, e.g. `/** @typedef {import("./types.js").Publication} Publication */`.

import type { LinliClient } from "./client.js";

declare global {
  interface Window {
    /** The page's client, for debugging and for the browser tests (tests/browser), which cut the
     * connection through it. */
    linliClient?: LinliClient;
  }
}

// -- shared vocabulary --------------------------------------------------------------------------

/** A user as the protocol names one: `author`, presence members, `join`/`leave`. */
export interface UserRef {
  id: number;
  name: string;
}

/** An error in a reply (`{"id", "error"}`), or what LinliClient rejects with ("network" when the
 * connection is not there or dropped). Show a text chosen by `code`, never `message`. */
export interface ProtocolError {
  code: string;
  message?: string;
  temporary?: boolean;
}

/** Where a client stands in a channel: the last offset delivered in order and its epoch (both
 * null until the first subscription answers). */
export interface Position {
  epoch: number | null;
  offset: number | null;
}

// -- publication bodies (`data`) ----------------------------------------------------------------

/** A chat message ("The chat message `data` object"). */
export interface ChatData {
  kind: "chat";
  text: string;
  author: UserRef;
  ts: number;
  cmid: string;
  /** Only in history and recovered publications, for a message a moderator acted on; `text` is
   * then "" for everyone but staff. */
  moderation?: "hidden" | "deleted";
  /** A feature's card under the text (an event's live places); see lib/cards.js. */
  card?: ChatCard;
  /** A management post in a building room (set by the server from the author's role). */
  official?: boolean;
  /** The moderator's reason, for the hidden message's own author only ("auto": the rule). */
  moderation_reason?: string;
  /** A reply's quote of the message it answers (docs/protocol.md, "Replies"). */
  reply_to?: { offset: number; author: { id: number | null; name: string }; text: string };
  /** History and recovery only: when its author last edited it (`text` is the current text). */
  edited?: number;
  /** History and recovery only: its author deleted it (`text` is ""). */
  deleted?: boolean;
  /** The message's photo (docs/protocol.md, "Photos"); `text` is its caption. */
  photo?: PhotoRef;
}

/** A chat message's photo: the blob store's ids, its size, and where to fetch it. */
export interface PhotoRef {
  id: string;
  blob: string;
  thumb: string;
  width: number;
  height: number;
  url: string;
  thumb_url: string;
}

/** An author's edit or delete of their message at `target` (gateway/messages/ops.py). */
export interface MessageEventData {
  kind: "edit" | "retract";
  target: number;
  ts: number;
  /** The new text (an edit). */
  text?: string;
}

/** One room of a `reads` reply. */
export interface RoomRead {
  channel: string;
  offset: number;
  last: number;
  unread: number;
  more: boolean;
  latest: { offset: number; author: { id: number | null; name: string }; text: string; ts: number; deleted: boolean } | null;
}

/** `{"push": "read"}`: the user's read position in a room moved (on any device). */
export interface ReadPush {
  push: "read";
  channel: string;
  offset: number;
}

/** What a chat message's card refers to. */
export interface ChatCard {
  kind: string;
  id: number;
}

/** A moderator's (or the auto-hide rule's) decision about the message at `target`. */
export interface ModerationEventData {
  kind: "hide" | "restore" | "delete";
  target: number;
  by?: "moderator" | "auto";
  ts: number;
  /** Not sent today; a `restore` that carries the text saves the client a history read. */
  text?: string;
}

/** A poll's whole tally on `poll:<id>` (keep the highest `version`). */
export interface TallyData {
  kind: "tally";
  poll_id: number;
  version: number;
  state: "draft" | "open" | "closed";
  voters: number;
  /** One number per option; null while an after-close poll is open. */
  counts: number[] | null;
  ts: number;
}

/** An event on `mod:flags`: "something changed", the page reloads the queue. */
export interface FlagFeedData {
  kind: "flag" | "held" | "action";
}

export type PublicationData =
  | ChatData
  | ModerationEventData
  | TallyData
  | FlagFeedData
  | MessageEventData
  | PinEventData;

export interface Publication {
  offset: number;
  epoch: number;
  data: PublicationData;
}

// -- replies ------------------------------------------------------------------------------------

export interface SubscribeReply {
  channel: string;
  epoch: number;
  offset: number;
  /** null: no `since` sent; true: `publications` is everything missed; false: reload. */
  recovered: boolean | null;
  publications: Publication[];
}

export interface HistoryReply {
  channel: string;
  epoch: number;
  offset: number;
  publications: Publication[];
}

export interface PresenceReply {
  channel: string;
  members: UserRef[];
}

export interface PublishAck {
  offset: number;
  epoch: number;
  duplicate: boolean;
}

export interface FlagReply {
  channel: string;
  offset: number;
  duplicate: boolean;
}

export interface VoteReply {
  poll_id: number;
  choices: number[];
  client_vote_id: string;
  duplicate: boolean;
}

/** Each op's `ok` body: LinliClient.request(op, …) resolves with `Replies[op]`. */
export interface Replies {
  subscribe: SubscribeReply;
  unsubscribe: { channel: string };
  publish: PublishAck;
  history: HistoryReply;
  presence: PresenceReply;
  flag: FlagReply;
  vote: VoteReply;
  read: { channel: string; offset: number };
  reads: { rooms: RoomRead[] };
  edit: { channel: string; offset: number; event: number; text: string };
  delete: { channel: string; offset: number; event: number };
}

export type Op = keyof Replies;

// -- frames from the server ---------------------------------------------------------------------

export type ReplyFrame =
  | { id: number; ok: unknown; error?: undefined }
  | { id: number; error: ProtocolError; ok?: undefined };

export type PushFrame =
  | { push: "ping" }
  | ({ push: "pub"; channel: string } & Publication)
  | { push: "join" | "leave"; channel: string; user: UserRef }
  | { push: "reset"; channel: string; epoch: number; offset: number }
  | { push: "error"; error: ProtocolError }
  | { push: "unsubscribed"; channel: string; user_id: number; reason: string }
  | InboxPush
  | ReadPush
  | ModerationPush
  | MeetingAttendancePush;

export type PubPush = Extract<PushFrame, { push: "pub" }>;

/** The user's own units in a meeting were checked in or out (gateway/meetings/ops.py):
 * `present` is those of theirs checked in now. */
export interface MeetingAttendancePush {
  push: "meeting_attendance";
  meeting_id: number;
  present: number[];
}

/** The user's unread count changed (gateway/notifications/ops.py); `latest` is the newest
 * notification when one was just created (absent when some were read). */
export interface InboxPush {
  push: "inbox";
  unread: number;
  latest?: InboxLatest;
}

export interface InboxLatest {
  id: number;
  kind: NotificationKind;
  text_zh: string;
  text_en: string;
  link: string;
  urgent: boolean;
}

// -- the client's bookkeeping -------------------------------------------------------------------

/** A message queued by LinliClient.publish until the server acknowledges it. */
export interface PendingPublish {
  channel: string;
  text: string;
  cmid: string;
  inFlight: boolean;
  /** The offset of the message this one answers. */
  replyTo?: number;
  /** The id of the uploaded photo it carries. */
  photo?: string;
}

/** What LinliClient tells the page; every callback is optional. */
export interface ClientCallbacks {
  state(state: ConnectionState): void;
  /** A publication delivered in order: a `pub` push, or one recovered or fetched to fill a gap. */
  pub(channel: string, pub: Publication): void;
  subscribed(channel: string, reply: SubscribeReply, how: { reload: boolean }): void;
  subscribeFailed(channel: string, error: ProtocolError): void;
  reset(channel: string): void;
  presence(kind: "join" | "leave", channel: string, user: UserRef): void;
  unsubscribed(channel: string, reason: string): void;
  ack(cmid: string, ack: PublishAck, entry: PendingPublish): void;
  publishFailed(cmid: string, error: ProtocolError, entry: PendingPublish): void;
  ended(code: number): void;
  /** The user's unread notifications changed (on any device or gateway). */
  inbox(push: InboxPush): void;
  /** A moderator's decision about this user (a warning, a mute, a hidden message, a ban). */
  moderation(push: ModerationPush): void;
  /** The user's read position in a room moved (on any device or gateway). */
  read(push: ReadPush): void;
  /** The user's own units in a meeting were checked in or out (on any device or gateway). */
  meetingAttendance(push: MeetingAttendancePush): void;
}

export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "ended" | "stopped";

// -- the page facts and the HTTP API --------------------------------------------------------------

/** `{"user": {...}}` of the HTTP API (web/api.py user_json). */
export interface User {
  id: number;
  username: string;
  display_name: string;
  role: "resident" | "organiser" | "moderator" | "admin" | "management" | "committee";
  building_id: number | null;
  unit_id: number | null;
}

/** The JSON in `#linli-page` (web/templates/base.html; poll-projector.html sends `token`). */
export interface PageFacts {
  user: User | null;
  page: string;
  /** The language: "zh-Hant" or "en" (what stored texts are keyed by). */
  lang: string;
  /** The catalogue the page is in: the language or its regional wording ("zh-Hant-HK"). */
  wording?: string;
  min_password: number;
  ws_port: number | null;
  /** The community's name in the page's language (admin settings), for titles. */
  community?: string;
  token?: string;
}

/** An HTTP API error body's `error` (docs/protocol.md, HTTP error codes). */
export interface ApiError {
  code: string;
  message?: string;
  field?: string;
  retry_after?: number;
  /** A ban's reason (403 `banned` of `POST /api/login`). */
  reason?: string;
  /** The ban's appeal token (403 `banned`): `POST /api/moderation/ban-appeal`. */
  appeal?: string;
  /** The ban's appeal once sent (403 `banned`): its state and the moderators' answer. */
  appealed?: OwnAppeal | null;
}

/** A banned resident's own appeal, as the login refusal carries it (web/moderation/api.py). */
export interface OwnAppeal {
  id: number;
  note: string;
  state: "open" | "closed";
  created_at: number;
  handled_at: number | null;
  answer: string;
  outcome: "upheld" | "granted" | null;
}

/** What `api()` resolves to. `data` is the body as sent; callers that rely on its shape say so
 * with a `@type` on the result. */
export type ApiResult<T = any> =
  | { ok: true; status: number; data: T; error: null }
  | { ok: false; status: number; data: unknown; error: ApiError };

/** `GET /api/me`. */
export interface MeBody {
  user: User;
  building: { id: number; name: string } | null;
  groups: string[];
  channels: string[];
}

export interface Group {
  slug: string;
  name: string;
  description: string;
  member_count: number;
  joined: boolean;
  channel: string;
}

/** `GET /api/groups`. */
export interface GroupsBody {
  groups: Group[];
}

/** `GET /api/flags/mine`. */
export interface MyFlagsBody {
  channel: string;
  offsets: number[];
}

export interface HeldMessage {
  id: number;
  channel: string;
  text: string;
  state: "held" | "approved" | "rejected";
  offset: number | null;
  at: number;
}

/** `GET /api/held/mine`. */
export interface MyHeldBody {
  held: HeldMessage[];
}

// -- the moderators' page (web/moderation_api.py) -----------------------------------------------

export interface Flag {
  flagger: UserRef;
  reason: string;
  note: string | null;
  at: number;
}

/** A flagged message in `GET /api/mod/queue`. `author.id` is null for a message without one. */
export interface FlaggedMessage {
  channel: string;
  offset: number;
  author: { id: number | null; name: string };
  text: string;
  posted_at: number;
  visibility: string;
  review: string;
  flag_count: number;
  auto_hidden: boolean;
  flags: Flag[];
}

/** A message the word list held, in `GET /api/mod/queue`. */
export interface HeldForReview {
  id: number;
  channel: string;
  author: UserRef;
  text: string;
  matched: string;
  at: number;
}

export interface QueueBody {
  messages: FlaggedMessage[];
  held: HeldForReview[];
  appeals?: Appeal[];
}

/** `GET /api/mod/messages/{channel}/{offset}/context`. */
export interface ContextBody {
  channel: string;
  offset: number;
  publications: Publication[];
}

/** One period of `GET /api/mod/figures` (web/moderation_figures.py). */
export interface FiguresPeriod {
  start: number;
  end: number;
  label: string;
  flags_received: number;
  messages_flagged: number;
  handled: number;
  time_to_first_action: { median_ms: number | null; p90_ms: number | null };
  /** A share 0–1, or null when nothing was flagged. */
  handled_within_24h: number | null;
}

export interface FiguresBody {
  periods: FiguresPeriod[];
}

// -- polls (docs/protocol.md, "Polls over HTTP") -------------------------------------------------

export type PollState = TallyData["state"];

/** `{"poll": {...}}` of the polls API; `projector_token` for organisers only. */
export interface Poll {
  id: number;
  channel: string;
  question: string;
  options: string[];
  multiple: boolean;
  anonymous: boolean;
  allow_change: boolean;
  counting: "resident" | "unit";
  results: "live" | "after_close";
  closes_at: number | null;
  state: PollState;
  version: number;
  join_code: string;
  opened_at: number | null;
  closed_at: number | null;
  projector_token?: string;
}

/** The own (or the household's) ballot. */
export interface MyVote {
  choices: number[];
  by_me: boolean;
}

/** `GET /api/polls/{id}`. */
export interface PollBody {
  poll: Poll;
  tally: TallyData;
  my_vote: MyVote | null;
  may_vote: boolean;
}

/** `GET /api/polls?channel=…`. */
export interface PollsBody {
  polls: Poll[];
}

/** A room a poll can be in (`GET /api/polls/rooms`, `GET /api/polls/overview`). */
export interface PollRoom {
  channel: string;
  name: string;
  kind: "building" | "group";
}

/** A poll in the polls page's lists, with its room's name and the reader's part in it. */
export interface PollListItem extends Poll {
  room_name: string;
  may_vote: boolean;
  voted: boolean;
}

/** `GET /api/polls/overview`. */
export interface PollsOverviewBody {
  open: PollListItem[];
  recent: PollListItem[];
  drafts: PollListItem[];
  rooms: PollRoom[];
}

/** `GET /api/polls/{id}/votes` (named polls; `choices` null while after-close results are hidden). */
export interface PollVotesBody {
  votes: { user_id: number; name: string; unit: string | null; choices: number[] | null; cast_at: number }[];
}

/** The `poll` publication on a room when a poll opens (docs/protocol.md, "The poll card"). */
export interface PollCardData {
  kind: "poll";
  poll_id: number;
  question: string;
  options: string[];
  multiple: boolean;
  anonymous: boolean;
  results: "live" | "after_close";
  closes_at: number | null;
  author: UserRef;
  ts: number;
}

/** `GET /api/projector/{token}`. */
export interface ProjectorBody {
  poll: Pick<Poll, "id" | "question" | "options" | "join_code" | "results" | "closes_at">;
  tally: TallyData;
}

// -- Web Push (docs/protocol.md, "Web Push API") -----------------------------------------------

/** One of the user's devices, `GET /api/push/subscriptions` (`{subscriptions: PushDevice[]}`). */
export interface PushDevice {
  id: number;
  label: string;
  /** The push service's address of the device: a page finds its own device by it. */
  endpoint: string;
  created_at: number;
  /** When a push last reached it (null: none yet). */
  last_ok_at: number | null;
}
// -- notifications (web/notifications/api.py) ----------------------------------------------------

/** persistence/notifications Kind. */
export type NotificationKind =
  | "notice"
  | "urgent"
  | "mention"
  | "request"
  | "event"
  | "survey"
  | "poll"
  | "chat"
  | "moderation";

export type NotificationChannel = "inbox" | "push" | "email";

/** One inbox row of `GET /api/notifications`. */
export interface NotificationItem {
  id: number;
  kind: NotificationKind;
  urgent: boolean;
  text: { "zh-Hant": string; en: string };
  link: string;
  at: number;
  read: boolean;
}

/** `GET /api/notifications` (newest first). */
export interface NotificationsBody {
  notifications: NotificationItem[];
  unread: number;
}

/** `GET /api/notifications/unread`; `POST /api/notifications/read` adds `changed`. */
export interface UnreadBody {
  unread: number;
  changed?: number;
}

export type RoomMode = "follow" | "mute";

/** `GET/POST /api/notifications/prefs`, `POST /api/notifications/rooms`. */
export interface PrefsBody {
  kinds: Record<NotificationKind, Record<NotificationChannel, boolean>>;
  /** Minutes after local midnight; equal: no quiet hours. */
  quiet: { start: number; end: number };
  email: string | null;
  digest: "off" | "daily" | "weekly";
  /** Only the rooms not on the default (mentions only). */
  rooms: Record<string, RoomMode>;
}

/** One device of `GET /api/push/subscriptions` (the Web Push work). */
export interface PushDevice {
  id: number;
  label: string;
  created_at: number;
  last_ok_at: number | null;
}

export interface PushDevicesBody {
  subscriptions: PushDevice[];
}

// -- residents told about moderation, staff in the rooms (web/static/js/chat_staff.js) ----------

/** A `moderation` push: a moderator's decision about this user (docs/protocol.md). */
export interface ModerationPush {
  push: "moderation";
  kind: "warning" | "muted" | "unmuted" | "hidden" | "banned";
  /** warning: its audit id; muted: the sanction's id (what an appeal names). Not `id`: a
   * frame with an `id` is a reply. */
  ref?: number;
  channel?: string | null;
  offset?: number;
  until?: number | null;
  /** hidden: "hidden" or "deleted". */
  visibility?: "hidden" | "deleted";
  reason: string;
}

/** A room's pin (`GET /api/rooms`, the `pin` event). */
export interface RoomPin {
  channel: string;
  offset: number;
  author: UserRef;
  text: string;
  official: boolean;
  ts: number;
  pinned_at: number;
}

/** A `pin` or `unpin` event on a room's channel. */
export interface PinEventData {
  kind: "pin" | "unpin";
  target: number | null;
  pin: RoomPin;
  ts: number;
}

/** A room of `GET /api/rooms`. */
export interface RoomInfo {
  channel: string;
  name: string;
  kind: "building" | "group";
  own: boolean;
  may_post: boolean;
  why: "read_only" | "join_group" | null;
  pin: RoomPin | null;
}

export interface RoomsBody {
  staff: boolean;
  rooms: RoomInfo[];
}

export interface Appeal {
  id: number;
  user: UserRef;
  subject: string;
  summary: string;
  note: string;
  state: "open" | "closed";
  created_at: number;
  handled_by: number | null;
  handled_at: number | null;
  answer: string;
  /** The moderator's choice when answering (null while open, and for answers before 0038). */
  outcome: "upheld" | "granted" | null;
  /** When the author acknowledged the answer on /appeals. */
  seen_at: number | null;
  /** The queue's: the decision appealed against, in words (null: no longer on record). */
  decision?: AppealDecision | null;
}

/** What an appeal is against (`GET /api/mod/queue`, web/moderation/actions.appeal_decision). */
export interface AppealDecision {
  kind: "warning" | "mute" | "ban" | "hidden" | "deleted" | "visible";
  /** The room it applies to or happened in (null: every room), and its name. */
  channel: string | null;
  room: string | null;
  user: { id: number; name: string; building: string | null } | null;
  reason: string;
  at: number | null;
  /** A mute's or ban's end (null: until lifted). */
  until?: number | null;
  /** A message's text (moderators see deleted text too). */
  text?: string;
  /** A mute's or ban's prompting message (absent: given without one): its room and excerpt. */
  because?: SanctionCause;
}

/** The message that prompted a mute or ban, as moderators read it (`GET /api/mod/queue`). */
export interface SanctionCause {
  channel: string;
  offset: number;
  room: string;
  excerpt: string;
}

/** `GET /api/moderation/mine`. */
export interface MyModerationBody {
  mutes: { id: number; channel: string | null; until: number | null; reason: string; at: number }[];
  warnings: { id: number; reason: string; channel: string | null; ts: number }[];
  appeals: Appeal[];
}
