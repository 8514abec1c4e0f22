// The admin console's API bodies (web/admin/api.py), for the type check only.

export interface AdminBuilding {
  id: number;
  name: string;
}

export interface AdminUnit {
  id: number;
  building_id: number;
  building: string;
  label: string;
  floor: string | null;
  share: string;
  household_size: number | null;
  residents: number;
}

export interface UnitsBody {
  buildings: AdminBuilding[];
  units: AdminUnit[];
}

export interface ImportLine {
  line: number;
  building: string;
  floor: string;
  unit: string;
  share: string;
  household_size: string;
  action: string;
  errors: string[];
}

export interface ImportBody {
  ok: boolean;
  file_error: string;
  created: number;
  updated: number;
  written: boolean;
  lines: ImportLine[];
}

export interface Resident {
  id: number;
  username: string;
  display_name: string;
  role: string;
  building_id: number | null;
  building: string | null;
  unit: string | null;
  disabled: boolean;
  sessions: number;
  created_at: number;
}

export interface SessionInfo {
  ref: string;
  created_at: number;
  expires_at: number;
}

export interface InviteInfo {
  code: string;
  building_id: number;
  building: string;
  unit_id: number | null;
  unit: string | null;
  uses: number | null;
  uses_left: number;
  expires_at: number;
  created_at: number;
  state: string;
  used_by: { id: number; username: string; display_name: string; at: number }[];
}
