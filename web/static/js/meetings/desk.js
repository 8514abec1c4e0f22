// @ts-check
// The desk's phone opened an owner's personal check-in QR: whose it is, what they hold (their
// own units, and those entrusted to them), and one button that checks them all in.
import { api, busy } from "../common.js";
import { errorText, t } from "../i18n.js";
import { byId, node } from "../lib/dom.js";

const box = byId("desk");
const meetingId = Number(box.dataset.meetingId);
const token = box.dataset.token ?? "";
const owner = byId("desk-owner");
const error = byId("desk-error");
const button = byId("desk-checkin", HTMLButtonElement);

/** @param {any} problem */
function showError(problem) {
  error.textContent = problem?.message || errorText(problem?.code);
  error.hidden = false;
}

async function load() {
  const result = await api("GET", `/api/meetings/${meetingId}/desk?t=${encodeURIComponent(token)}`);
  if (!result.ok) {
    owner.textContent = "";
    showError(result.error);
    return;
  }
  const units = /** @type {{unit_id: number, label: string, proxy: boolean, present: boolean}[]} */ (result.data.units);
  owner.textContent = t("meetings.desk.owner", { name: result.data.name });
  byId("desk-units", HTMLUListElement).replaceChildren(...units.map((u) => node(
    "li", "", t(u.present ? "meetings.desk.unit_present" : "meetings.desk.unit", {
      unit: u.label, how: t(u.proxy ? "meetings.desk.by_proxy" : "meetings.desk.in_person"),
    }),
  )));
  button.hidden = units.every((u) => u.present);
}

button.addEventListener("click", () => busy(button, async () => {
  error.hidden = true;
  const result = await api("POST", `/api/meetings/${meetingId}/checkin/qr`, { token });
  if (!result.ok) showError(result.error);
  await load();
}));

load();
