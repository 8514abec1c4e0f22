// The requests API's shapes (web/requests/api.py), for the scripts' JSDoc types.

export type Category = "repair" | "question" | "suggestion" | "complaint" | "feedback";
export type Status =
  | "received" | "in_progress" | "waiting" | "resolved" | "closed" | "rejected" | "merged";

/** `request_json` of web/requests/api.py. */
export interface RequestItem {
  id: number;
  category: Category;
  status: Status;
  private: boolean;
  text: string;
  author_id: number;
  building_id: number;
  floor: string;
  unit_id: number | null;
  place_id: number | null;
  place: string;
  assignee_id: number | null;
  source_link: string;
  merged_into: number | null;
  reject_reason: string;
  version: number;
  created_at: number;
  updated_at: number;
  respond_by: number;
  resolve_by: number;
  first_response_at: number | null;
  resolved_at: number | null;
  closed_at: number | null;
  resolutions: number;
  overdue: boolean;
  overdue_marked: boolean;
}

export interface RequestEvent {
  id: number;
  kind: "filed" | "status" | "reply" | "note" | "assign" | "merged" | "merged_in" | "reopen" | "rating";
  actor_id: number | null;
  actor: string;
  status: string;
  text: string;
  internal: boolean;
  at: number;
}

/** `GET /api/requests/<id>`. */
export interface RequestBody {
  /** A helper filed it for the resident (web/onboard): who. */
  filed_by: { id: number; name: string } | null;
  request: RequestItem;
  events: RequestEvent[];
  staff: boolean;
  mine: boolean;
  following: boolean;
  followers: number;
  may_rate: boolean;
  may_reopen: boolean;
  rating: { score: number; comment: string } | null;
  photos: PhotoItem[];
  may_add_photos: boolean;
}

export interface PhotoItem {
  position: number;
  filename: string;
  width: number;
  height: number;
  url: string;
  thumb_url: string;
}

export interface Place { id: number; name: string; building_id: number | null; active?: boolean }
export interface Template { id: number; title: string; body: string }
export interface Team { id: number; name: string; member_ids: number[]; categories: Category[] }
export interface Rule {
  category: Category;
  team_id: number | null;
  first_response_ms: number;
  resolution_ms: number;
}

/** `GET /api/requests/meta` (templates, teams, rules, staff only for staff; all_places for admins). */
export interface MetaBody {
  categories: Category[];
  places: Place[];
  handled: Category[];
  templates?: Template[];
  teams?: Team[];
  rules?: Rule[];
  staff?: { id: number; name: string }[];
  all_places?: Place[];
  /** Holidays from today on (local dates YYYY-MM-DD), staff and admins. */
  holidays?: { day: string; name: string }[];
}

export interface ListBody { requests: RequestItem[] }

/** `data` of a `request:<id>` publication (gateway/requests/events.py). */
export interface RequestChange { kind: "request"; id: number; version: number; status: Status }
