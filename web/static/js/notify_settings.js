// @ts-check
// The notification settings (/settings/notifications): this device's push and the user's devices,
// each kind × channel switch (saved as it changes), quiet hours, the e-mail address and digest,
// and the rooms followed or muted. Everything is read from and written to
// /api/notifications/prefs (and /rooms); a device's push goes through lib/push.js.
import { api, busy, showText } from "./common.js";
import { errorText, formatTime, t } from "./i18n.js";
import { byId, node } from "./lib/dom.js";
import { kindIcon } from "./lib/notifications.js";
import { disablePush, enablePush, pushState, pushSupported } from "./lib/push.js";

/** @typedef {import("./types.js").PrefsBody} PrefsBody */
/** @typedef {import("./types.js").PushDevicesBody} PushDevicesBody */
/** @typedef {import("./types.js").NotificationKind} NotificationKind */
/** @typedef {import("./types.js").NotificationChannel} NotificationChannel */
/** @template T @typedef {import("./types.js").ApiResult<T>} ApiResult */

/** How long "Saved." stays by a switch. */
const SAVED_MS = 4000;
const PUSH_STATES = ["unsupported", "denied", "off", "on"];

const switches = /** @type {HTMLInputElement[]} */ ([
  ...document.querySelectorAll("#kinds input[data-kind][data-channel]"),
]);

/**
 * Say `text` in a status line for a while (it stays in the accessibility tree until replaced).
 * @param {HTMLElement} line
 * @param {string} text
 */
function flash(line, text) {
  line.textContent = text;
  const shownText = text;
  setTimeout(() => {
    if (line.textContent === shownText) line.textContent = "";
  }, SAVED_MS);
}

/** @param {number} minutes  after midnight */
function toTimeValue(minutes) {
  const h = String(Math.floor(minutes / 60)).padStart(2, "0");
  const m = String(minutes % 60).padStart(2, "0");
  return `${h}:${m}`;
}

/** @param {string} value  "HH:MM" */
function fromTimeValue(value) {
  const match = /^(\d{2}):(\d{2})/.exec(value);
  return match ? Number(match[1]) * 60 + Number(match[2]) : null;
}

/** @param {number} minutes  a time of day as the reader's language writes it */
function clock(minutes) {
  const day = new Date();
  day.setHours(Math.floor(minutes / 60), minutes % 60, 0, 0);
  return formatTime(day.getTime());
}

// -- showing the preferences ---------------------------------------------------------------------

/** @param {PrefsBody} prefs */
function showPrefs(prefs) {
  for (const input of switches) {
    const kind = /** @type {NotificationKind} */ (input.dataset.kind);
    const channel = /** @type {NotificationChannel} */ (input.dataset.channel);
    input.checked = Boolean(prefs.kinds[kind]?.[channel]);
    input.disabled = false;
  }
  showQuiet(prefs.quiet);
  byId("email", HTMLInputElement).value = prefs.email ?? "";
  byId("digest", HTMLSelectElement).value = prefs.digest;
}

/** @param {PrefsBody["quiet"]} quiet */
function showQuiet(quiet) {
  const none = quiet.start === quiet.end;
  byId("quiet-none", HTMLInputElement).checked = none;
  // With no quiet hours the times show the usual 22:00-07:00, ready to switch back on.
  byId("quiet-start", HTMLInputElement).value = toTimeValue(none ? 22 * 60 : quiet.start);
  byId("quiet-end", HTMLInputElement).value = toTimeValue(none ? 7 * 60 : quiet.end);
  byId("quiet-now").textContent = none
    ? t("notify.quiet.now_none")
    : t("notify.quiet.now", { start: clock(quiet.start), end: clock(quiet.end) });
  disableTimes();
}

function disableTimes() {
  const none = byId("quiet-none", HTMLInputElement).checked;
  byId("quiet-start", HTMLInputElement).disabled = none;
  byId("quiet-end", HTMLInputElement).disabled = none;
}

// -- the switches --------------------------------------------------------------------------------

/** @param {HTMLInputElement} input */
async function saveSwitch(input) {
  const kind = input.dataset.kind ?? "";
  const channel = input.dataset.channel ?? "";
  const fieldset = input.closest("fieldset");
  const line = fieldset?.querySelector(".kind-status");
  const wanted = input.checked;
  /** @type {ApiResult<PrefsBody>} */
  const result = await api("POST", "/api/notifications/prefs", { kinds: { [kind]: { [channel]: wanted } } });
  if (!(line instanceof HTMLElement)) return;
  if (result.ok) {
    input.checked = Boolean(result.data.kinds[/** @type {NotificationKind} */ (kind)]?.[/** @type {NotificationChannel} */ (channel)]);
    flash(line, t("notify.saved"));
  } else {
    input.checked = !wanted;
    flash(line, t("notify.save_failed", { reason: errorText(result.error.code) }));
  }
}

for (const input of switches) input.addEventListener("change", () => saveSwitch(input));
for (const icon of document.querySelectorAll("[data-kind-icon]")) {
  if (icon instanceof HTMLElement) icon.replaceChildren(kindIcon(icon.dataset.kindIcon ?? ""));
}

// -- quiet hours ---------------------------------------------------------------------------------

byId("quiet-none", HTMLInputElement).addEventListener("change", disableTimes);
byId("quiet-form", HTMLFormElement).addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = byId("quiet-error");
  const none = byId("quiet-none", HTMLInputElement).checked;
  const start = fromTimeValue(byId("quiet-start", HTMLInputElement).value);
  const end = fromTimeValue(byId("quiet-end", HTMLInputElement).value);
  if (!none && (start === null || end === null)) {
    showText(error, t("errors.bad_request"));
    return;
  }
  showText(error, "");
  const quiet = none || start === null || end === null ? { start: 0, end: 0 } : { start, end };
  const button = /** @type {HTMLButtonElement} */ (event.submitter ?? byId("quiet-form").querySelector("button"));
  /** @type {ApiResult<PrefsBody>} */
  const result = await busy(button, () => api("POST", "/api/notifications/prefs", { quiet }));
  if (!result.ok) {
    showText(error, errorText(result.error.code));
    return;
  }
  showQuiet(result.data.quiet);
  flash(byId("quiet-status"), t("notify.saved"));
});

// -- e-mail ----------------------------------------------------------------------------------------

byId("email-form", HTMLFormElement).addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = byId("email", HTMLInputElement);
  const fieldError = byId("email-error");
  const formError = byId("email-form-error");
  const email = input.value.trim();
  const body = { email: email || null, digest: byId("digest", HTMLSelectElement).value };
  const button = /** @type {HTMLButtonElement} */ (event.submitter ?? byId("email-form").querySelector("button"));
  /** @type {ApiResult<PrefsBody>} */
  const result = await busy(button, () => api("POST", "/api/notifications/prefs", body));
  input.removeAttribute("aria-invalid");
  showText(fieldError, "");
  showText(formError, "");
  if (!result.ok) {
    if (result.error.field === "email") {
      input.setAttribute("aria-invalid", "true");
      showText(fieldError, errorText(result.error.code, "email"));
      input.focus();
    } else {
      showText(formError, errorText(result.error.code));
    }
    return;
  }
  input.value = result.data.email ?? "";
  byId("digest", HTMLSelectElement).value = result.data.digest;
  flash(byId("email-status"), t("notify.saved"));
});

// -- rooms -----------------------------------------------------------------------------------------

/**
 * The rooms the user is in (and any other with a choice stored), each with its choice.
 * @param {PrefsBody["rooms"]} modes
 */
async function showRooms(modes) {
  /** @type {[ApiResult<import("./types.js").MeBody>, ApiResult<import("./types.js").GroupsBody>]} */
  const [me, groups] = await Promise.all([api("GET", "/api/me"), api("GET", "/api/groups")]);
  /** channel → name @type {Map<string, string>} */
  const rooms = new Map();
  if (me.ok && me.data.building) rooms.set(`building:${me.data.building.id}`, me.data.building.name);
  const names = new Map((groups.ok ? groups.data.groups : []).map((g) => [g.channel, g.name]));
  for (const slug of me.ok ? me.data.groups : []) {
    const channel = `group:${slug}`;
    rooms.set(channel, names.get(channel) ?? slug);
  }
  for (const channel of Object.keys(modes)) {
    if (!rooms.has(channel)) rooms.set(channel, t("notify.room.other", { room: channel }));
  }
  const list = byId("room-prefs");
  list.replaceChildren(
    ...[...rooms].map(([channel, name], index) => {
      const li = node("li", "room-pref");
      const select = node("select");
      select.id = `room-pref-${index}`;
      select.dataset.channel = channel;
      for (const [value, key] of [["", "notify.room.default"], ["follow", "notify.room.follow"], ["mute", "notify.room.mute"]]) {
        const option = node("option", "", t(key));
        option.value = value;
        select.append(option);
      }
      select.value = modes[channel] ?? "";
      select.addEventListener("change", () => saveRoom(select));
      const label = node("label", "", name);
      label.htmlFor = select.id;
      li.append(label, select);
      return li;
    }),
  );
  byId("rooms-none").hidden = rooms.size > 0;
}

/** @param {HTMLSelectElement} select */
async function saveRoom(select) {
  const channel = select.dataset.channel ?? "";
  /** @type {ApiResult<PrefsBody>} */
  const result = await api("POST", "/api/notifications/rooms", { channel, mode: select.value || null });
  const line = byId("rooms-status");
  if (result.ok) {
    select.value = result.data.rooms[channel] ?? "";
    flash(line, t("notify.saved"));
  } else {
    flash(line, t("notify.save_failed", { reason: errorText(result.error.code) }));
  }
}

// -- this device -----------------------------------------------------------------------------------

function defaultLabel() {
  return t(/Mobi|Android|iPhone|iPad/i.test(navigator.userAgent) ? "notify.device.default_phone" : "notify.device.default_computer");
}

async function showDevice() {
  let state = "unsupported";
  try {
    state = String(pushSupported() ? await pushState() : "unsupported");
  } catch {
    state = "unsupported";
  }
  if (!PUSH_STATES.includes(state)) state = "unsupported";
  byId("device-state").textContent = t(`notify.device.state.${state}`);
  byId("device-help").hidden = state !== "unsupported" && state !== "denied";
  byId("device-enable").hidden = state !== "off";
  byId("push-off").hidden = state !== "on";
  const label = byId("device-label", HTMLInputElement);
  if (!label.value) label.value = defaultLabel();
  await showDevices();
}

/** The user's devices with push on; none when the push API is not there (yet). */
async function showDevices() {
  /** @type {ApiResult<PushDevicesBody>} */
  const result = await api("GET", "/api/push/subscriptions");
  const devices = result.ok ? result.data.subscriptions ?? [] : [];
  const list = byId("device-list");
  list.replaceChildren(
    ...devices.map((device) => {
      const li = node("li", "device");
      const facts = node("span", "device-facts");
      facts.append(node("strong", "device-label", device.label));
      facts.append(node("span", "hint", t("notify.device.added", { time: formatTime(device.created_at) })));
      if (device.last_ok_at) {
        facts.append(node("span", "hint", t("notify.device.last_ok", { time: formatTime(device.last_ok_at) })));
      }
      const remove = node("button", "button-quiet", t("notify.device.remove"));
      remove.type = "button";
      remove.setAttribute("aria-label", t("notify.device.remove_label", { label: device.label }));
      remove.addEventListener("click", () => removeDevice(device.id, device.label));
      li.append(facts, remove);
      return li;
    }),
  );
  list.hidden = devices.length === 0;
  byId("device-none").hidden = devices.length > 0;
}

/**
 * @param {number} id
 * @param {string} label
 */
async function removeDevice(id, label) {
  const result = await api("POST", `/api/push/subscriptions/${id}/delete`, {});
  showText(byId("device-error"), result.ok ? "" : errorText(result.error.code));
  if (result.ok) flash(byId("device-status"), t("notify.device.removed", { label }));
  await showDevice();
  byId("device-title").focus();
}

/**
 * @param {HTMLButtonElement} button
 * @param {() => Promise<unknown>} change
 */
async function changePush(button, change) {
  const error = byId("device-error");
  showText(error, "");
  try {
    await busy(button, change);
  } catch {
    showText(error, t("notify.device.failed"));
  }
  await showDevice();
}

byId("push-on", HTMLButtonElement).addEventListener("click", (event) => {
  const label = byId("device-label", HTMLInputElement).value.trim() || defaultLabel();
  changePush(/** @type {HTMLButtonElement} */ (event.currentTarget), () => enablePush(label));
});
byId("push-off", HTMLButtonElement).addEventListener("click", (event) => {
  changePush(/** @type {HTMLButtonElement} */ (event.currentTarget), () => disablePush());
});

// -- start -----------------------------------------------------------------------------------------

async function start() {
  showDevice();
  /** @type {ApiResult<PrefsBody>} */
  const result = await api("GET", "/api/notifications/prefs");
  if (!result.ok) {
    if (result.status === 401) {
      location.assign("/login");
      return;
    }
    showText(byId("settings-error"), errorText(result.error.code));
    return;
  }
  showPrefs(result.data);
  await showRooms(result.data.rooms);
}

start();
