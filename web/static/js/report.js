// The "Report" dialog of the chat page: a modal <dialog> (the browser keeps focus inside it and
// closes it on Escape) with the flag op's reasons as labelled radio buttons and a text field
// that "other" needs. It sends the `flag` op (docs/protocol.md) and gives focus back where it
// came from. User text (the quoted message) goes in through textContent only.
import { busy } from "./common.js";
import { errorText, t } from "./i18n.js";

const dialog = document.getElementById("report-dialog");
const form = document.getElementById("report-form");
const quote = document.getElementById("report-quote");
const note = document.getElementById("report-text");
const error = document.getElementById("report-error");
const sendButton = document.getElementById("report-send");

/** What the open dialog is about: {client, channel, offset, trigger, done}. */
let current = null;

function showError(text) {
  error.textContent = text || "";
  error.hidden = !text;
}

/** Open the dialog for the message at `offset` of `channel`. `done(duplicate)` runs once the
 * server has the report; `restoreFocus()` says where focus goes when the dialog closes. */
export function openReport({ client, channel, offset, text, trigger, done, restoreFocus }) {
  current = { client, channel, offset, trigger, done, restoreFocus };
  form.reset();
  showError("");
  note.removeAttribute("aria-invalid");
  quote.textContent = text || "";
  quote.hidden = !text;
  dialog.showModal();
  form.querySelector('input[name="reason"]').focus();
}

function close() {
  if (dialog.open) dialog.close();
}

dialog.addEventListener("close", () => {
  // The close event comes in a task of its own: the dialog may have been opened again already
  // (Escape, then Enter on the same button at once); that one is still current.
  if (dialog.open) return;
  const was = current;
  current = null;
  if (!was) return;
  const target = was.restoreFocus?.() ?? (was.trigger?.isConnected ? was.trigger : null);
  target?.focus();
});

document.getElementById("report-cancel").addEventListener("click", close);

form.addEventListener("submit", async (event) => {
  event.preventDefault(); // method="dialog" would close it before the server answers
  if (!current) return;
  const chosen = form.querySelector('input[name="reason"]:checked');
  const text = note.value.trim();
  note.removeAttribute("aria-invalid");
  if (!chosen) {
    showError(t("chat.report_need_reason"));
    form.querySelector('input[name="reason"]').focus();
    return;
  }
  if (chosen.value === "other" && !text) {
    showError(t("chat.report_need_text"));
    note.setAttribute("aria-invalid", "true");
    note.focus();
    return;
  }
  showError("");
  const request = current;
  const fields = { channel: request.channel, offset: request.offset, reason: chosen.value };
  if (text) fields.text = text;
  let reply = null;
  let failure = null;
  await busy(sendButton, async () => {
    try {
      reply = await request.client.request("flag", fields);
    } catch (err) {
      failure = err;
    }
  });
  if (current !== request) return; // closed meanwhile
  if (failure) {
    showError(t("chat.report_failed", { reason: errorText(failure?.code) }));
    return;
  }
  request.done(reply?.duplicate === true);
  close();
});
