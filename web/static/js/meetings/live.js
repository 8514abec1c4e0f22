// @ts-check
// The meeting's live feed over the WebSocket (`meeting:<id>`, whole snapshots), shared by the
// owner's and the chair's pages.
import { LinliClient, socketUrl } from "../client.js";
import { withBell } from "../lib/bell.js";

/**
 * @param {number} meetingId
 * @param {(figures: import("./figures.js").Figures) => void} onFigures
 * @param {{attendance?: (present: number[]) => void, reopened?: () => void}} [mine]
 *   the owner's page: `attendance` with the units of theirs checked in now, pushed when one is
 *   checked in or out; `reopened` when the connection opens again (a push may have been lost)
 */
export function follow(meetingId, onFigures, mine = {}) {
  let opened = false;
  const client = new LinliClient(socketUrl(), withBell({
    pub: (_channel, pub) => {
      /** @type {any} */
      const data = pub.data;
      if (data?.kind === "meeting") onFigures(data);
    },
    meetingAttendance: (push) => {
      if (push.meeting_id === meetingId) mine.attendance?.(push.present);
    },
    state: (state) => {
      if (state !== "open") return;
      if (opened) mine.reopened?.();
      opened = true;
    },
  }));
  client.start();
  client.subscribe(`meeting:${meetingId}`);
  return client;
}

/** @param {number | null | undefined} ms */
export function when(ms) {
  if (!ms) return "";
  return new Date(ms).toLocaleString(document.documentElement.lang === "en" ? "en" : "zh-Hant-TW", {
    dateStyle: "medium", timeStyle: "short",
  });
}
