// @ts-check
// One notice: record that the reader opened it (the household's reach), the "我已閱讀" button,
// and, for staff, the reach view kept live from the notice's channel (notice:<id>), publishing
// a draft and retracting.
import { api } from "../common.js";
import { LinliClient, socketUrl } from "../client.js";
import { errorText, page, t } from "../i18n.js";
import { withBell } from "../lib/bell.js";
import { byId } from "../lib/dom.js";

/** @typedef {{building_id: number, floor: number | null, total: number, reached: number, acknowledged: number}} FloorReach */
/** @typedef {{kind: "reach", notice_id: number, version: number, total: number, reached: number, acknowledged: number, floors: FloorReach[]}} ReachData */

const article = document.getElementById("notice");
const noticeId = Number(article?.dataset.noticeId);

if (article && article.dataset.state !== "draft" && article.dataset.state !== "scheduled") {
  api("POST", `/api/notices/${noticeId}/open`, {});
}

const ackButton = document.getElementById("ack-button");
if (ackButton instanceof HTMLButtonElement) {
  ackButton.addEventListener("click", async () => {
    ackButton.disabled = true;
    const result = await api("POST", `/api/notices/${noticeId}/ack`, {});
    const error = byId("ack-error");
    if (result.ok) {
      ackButton.hidden = true;
      byId("ack-done").hidden = false;
      error.hidden = true;
      dispatchEvent(new Event("linli:notice-acknowledged"));
    } else {
      ackButton.disabled = false;
      error.textContent = errorText(result.error?.code ?? "generic");
      error.hidden = false;
    }
  });
}

const reachBox = document.getElementById("reach");
const staff = Boolean(reachBox && page.user);
let version = -1;

/** @param {ReachData} reach */
function showReach(reach) {
  if (reach.version <= version) return;
  version = reach.version;
  const percent = reach.total ? Math.round((reach.reached * 100) / reach.total) : 0;
  byId("reach-units").textContent = t("notices.reach_units", { reached: reach.reached, total: reach.total, percent });
  byId("reach-acked").textContent = t("notices.reach_acked", { count: reach.acknowledged });
  byId("reach-live").textContent = t("notices.reach_updated", { reached: reach.reached, total: reach.total, acked: reach.acknowledged });
  /** @type {Record<string, string>} */
  const names = JSON.parse(reachBox?.dataset.buildings ?? "{}");
  byId("reach-floors").replaceChildren(
    ...reach.floors.map((f) => {
      const row = document.createElement("tr");
      for (const text of [names[String(f.building_id)] ?? String(f.building_id), f.floor === null ? "—" : String(f.floor), `${f.reached} / ${f.total}`, String(f.acknowledged)]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    }),
  );
  reachBox?.setAttribute("data-version", String(reach.version));
}

if (staff && document.getElementById("reach-units")) {
  const client = new LinliClient(socketUrl(), withBell({
    pub: (_channel, pub) => {
      // reach data is not among the core's PublicationData kinds: checked by its kind here.
      const data = /** @type {{kind?: string}} */ (/** @type {unknown} */ (pub.data));
      if (data?.kind === "reach") showReach(/** @type {ReachData} */ (data));
    },
    subscribed: async () => {
      // Subscribed first, then the snapshot: whichever is newer wins by its version.
      /** @type {import("../types.js").ApiResult<{reach: ReachData}>} */
      const result = await api("GET", `/api/notices/${noticeId}/reach`);
      if (result.ok) showReach(result.data.reach);
    },
  }));
  client.start();
  client.subscribe(`notice:${noticeId}`);
} else {
  new LinliClient(socketUrl(), withBell({})).start();
}

const publishButton = document.getElementById("publish-button");
if (publishButton instanceof HTMLButtonElement) {
  publishButton.addEventListener("click", async () => {
    publishButton.disabled = true;
    const result = await api("POST", `/api/notices/${noticeId}/publish`, {});
    if (result.ok) location.reload();
    else publishButton.disabled = false;
  });
}

const retractForm = document.getElementById("retract-form");
if (retractForm instanceof HTMLFormElement) {
  retractForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const reason = byId("retract-reason", HTMLInputElement).value.trim();
    const error = byId("retract-error");
    const result = await api("POST", `/api/notices/${noticeId}/retract`, { reason });
    if (result.ok) {
      location.reload();
      return;
    }
    error.textContent = errorText(result.error?.code ?? "generic", result.error?.field);
    error.hidden = false;
  });
}
