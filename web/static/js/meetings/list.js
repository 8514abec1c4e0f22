// @ts-check
// The meetings list; staff write a new meeting (a draft) here: one agenda item per line,
// "title | threshold" where the threshold is art31 (the default), art32, majority, or report.
import { api } from "../common.js";
import { errorText, t } from "../i18n.js";
import { byId, control, node } from "../lib/dom.js";
import { when } from "./live.js";

const list = byId("meeting-list", HTMLUListElement);

async function load() {
  const result = await api("GET", "/api/meetings");
  if (!result.ok) return;
  const meetings = result.data.meetings;
  byId("meeting-none").hidden = meetings.length > 0;
  list.replaceChildren(...meetings.map((/** @type {any} */ m) => {
    const li = node("li", "mt-list-item");
    const a = node("a", "", m.title);
    a.href = `/meetings/${m.id}`;
    li.append(a, node("p", "hint", `${when(m.starts_at)} · ${m.place} · ${t(`meetings.state.${m.state}`)}`));
    return li;
  }));
}

const form = document.getElementById("new-form");
if (form instanceof HTMLFormElement) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = byId("new-error");
    error.hidden = true;
    const items = control(form, "items").value.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
      const [title, kind] = line.split("|").map((s) => s.trim());
      if (kind === "report") return { title, resolution: false, threshold: "majority" };
      return { title, threshold: kind || "art31" };
    });
    const starts = new Date(control(form, "when").value).getTime();
    const result = await api("POST", "/api/meetings", {
      title: control(form, "title").value,
      kind: control(form, "kind").value,
      place: control(form, "place").value,
      starts_at: Number.isFinite(starts) ? starts : 0,
      items,
    });
    if (!result.ok) {
      error.textContent = result.error.message || errorText(result.error.code);
      error.hidden = false;
      return;
    }
    location.href = `/meetings/${result.data.meeting.id}/run`;
  });
}

load();
