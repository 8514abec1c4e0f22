// @ts-check
import { api, busy, showFormError } from "./common.js";
import { errorText, formatFullTime, t } from "./i18n.js";
import { byId, part } from "./lib/dom.js";

const form = byId("login-form", HTMLFormElement);
const username = byId("username", HTMLInputElement);
const password = byId("password", HTMLInputElement);
const showPassword = byId("show-password", HTMLInputElement);

showPassword.addEventListener("change", () => {
  password.type = showPassword.checked ? "text" : "password";
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!username.value.trim()) {
    showFormError(form, { code: "bad_request", field: "username" });
    return;
  }
  if (!password.value) {
    showFormError(form, { code: "bad_request", field: "password" });
    return;
  }
  const result = await busy(part(form, "button[type=submit]", HTMLButtonElement), () =>
    api("POST", "/api/login", { username: username.value.trim(), password: password.value }),
  );
  if (result.ok) {
    location.assign(nextPage());
    return;
  }
  // Registered at the management desk: the resident chooses their own password first.
  if (result.error.code === "password_change_required") {
    location.assign(`/first-login?${new URLSearchParams({ username: username.value.trim() })}`);
    return;
  }
  // A wrong password says nothing about which of the two was wrong; keep the focus on the
  // password, which is what most people mistype.
  showFormError(form, result.error.code === "wrong_credentials" ? { ...result.error, field: "password" } : result.error);
  // A ban says why (the moderator's reason).
  const refused = byId("login-refused-reason");
  refused.textContent = result.error.reason ? t("modres.reason", { reason: result.error.reason }) : "";
  refused.hidden = !result.error.reason;
  // ... and may be appealed once, with the token the refusal carries (the right password);
  // once appealed, the refusal carries the appeal instead: its state and the answer.
  const appealed = result.error.appealed ?? null;
  showAppealed(appealed);
  appealToken = result.error.appeal ?? "";
  appealForm.hidden = !appealToken || appealed !== null;
});

/**
 * The banned resident's own appeal (or none): waiting, or answered with the answer. The texts
 * go in through textContent only.
 * @param {import("./types.js").OwnAppeal | null} appealed
 */
function showAppealed(appealed) {
  const box = byId("ban-appealed");
  box.hidden = appealed === null;
  if (appealed === null) return;
  const closed = appealed.state === "closed";
  const time = formatFullTime(closed && appealed.handled_at ? appealed.handled_at : appealed.created_at);
  byId("ban-appealed-state").textContent = t(closed ? "modres.my_appeal_closed" : "modres.my_appeal_open", { time });
  const answer = byId("ban-appealed-answer");
  answer.textContent = closed ? appealed.answer : "";
  answer.hidden = !closed;
  byId("ban-appealed-note").textContent = t("modres.my_appeal_note", { note: appealed.note });
}

// -- a banned account's appeal ---------------------------------------------------------------

const appealForm = byId("ban-appeal", HTMLFormElement);
const appealNote = byId("ban-appeal-note", HTMLTextAreaElement);
const appealError = byId("ban-appeal-error");
let appealToken = "";

appealForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const note = appealNote.value.trim();
  appealError.hidden = true;
  if (!note) {
    appealError.textContent = t("modres.appeal_need_note");
    appealError.hidden = false;
    appealNote.focus();
    return;
  }
  const button = part(appealForm, "button[type=submit]", HTMLButtonElement);
  const result = await busy(button, () => api("POST", "/api/moderation/ban-appeal", { token: appealToken, note }));
  if (result.ok) {
    byId("ban-appeal-done").hidden = false;
    appealNote.disabled = true;
    button.hidden = true;
    return;
  }
  appealError.textContent = errorText(result.error.code);
  appealError.hidden = false;
});

// Sent here by a ban (chat_staff.js keeps the reason the socket was told for this tab).
const bannedReason = document.getElementById("login-banned-reason");
if (bannedReason) {
  let reason = "";
  try {
    reason = sessionStorage.getItem("linli.banned-reason") ?? "";
  } catch {
    // no storage: the notice without the reason
  }
  bannedReason.textContent = reason ? t("modres.reason", { reason }) : "";
  bannedReason.hidden = !reason;
}

username.focus();

/**
 * Where to go after logging in: the page that sent the visitor here (``?next=/polls/3``), if it
 * is a page of this site, else the chat. (The server checks the same rule, web/pages.safe_next.)
 * @returns {string}
 */
function nextPage() {
  const next = new URLSearchParams(location.search).get("next");
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  return /[\u0000-\u001f]/.test(next) ? "/" : next;
}
