// @ts-check
// The meeting's live feed over the WebSocket (`meeting:<id>`, whole snapshots), shared by the
// owner's and the chair's pages.
import { LinliClient, socketUrl } from "../client.js";
import { withBell } from "../lib/bell.js";

/**
 * @param {number} meetingId
 * @param {(figures: import("./figures.js").Figures) => void} onFigures
 */
export function follow(meetingId, onFigures) {
  const client = new LinliClient(socketUrl(), withBell({
    pub: (_channel, pub) => {
      /** @type {any} */
      const data = pub.data;
      if (data?.kind === "meeting") onFigures(data);
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
