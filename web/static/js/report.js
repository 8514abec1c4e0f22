// @ts-check
// The "Report" dialog: a modal <dialog> (the browser keeps focus inside it and closes it on
// Escape) with the flag op's reasons as labelled radio buttons and a text field that "other"
// needs. It sends the `flag` op (docs/protocol.md) and gives focus back where it came from. User
// text (the quoted message) goes in through textContent only. The markup is the page's
// (#report-dialog in web/templates/chat.html); it is looked up when a report is first opened, so
// a page may import this (through lib/moderation-ui.js) and never report.
import { busy } from "./common.js";
import { errorText, t } from "./i18n.js";
import { byId, part } from "./lib/dom.js";

/** @typedef {import("./client.js").LinliClient} LinliClient */
/** @typedef {import("./types.js").FlagReply} FlagReply */
/** @typedef {import("./types.js").ProtocolError} ProtocolError */

/**
 * What a report is about and what to do when it is in.
 * @typedef {object} ReportRequest
 * @property {LinliClient} client  sends the `flag` op
 * @property {string} channel
 * @property {number} offset  the message's
 * @property {string} [text]  the message's text, quoted in the dialog ("" or absent: no quote)
 * @property {HTMLElement} [trigger]  gets focus back when the dialog closes (if still there)
 * @property {(duplicate: boolean) => void} done  once the server has the report
 * @property {() => HTMLElement | null} [restoreFocus]  where focus goes instead of `trigger`
 */

/** The page's dialog, set up on the first report. @type {ReportDialog | null} */
let shared = null;

/**
 * Open the dialog for the message at `offset` of `channel`. `done(duplicate)` runs once the
 * server has the report; `restoreFocus()` says where focus goes when the dialog closes.
 * @param {ReportRequest} request
 */
export function openReport(request) {
  shared ??= new ReportDialog();
  shared.open(request);
}

class ReportDialog {
  constructor() {
    this.dialog = byId("report-dialog", HTMLDialogElement);
    this.form = byId("report-form", HTMLFormElement);
    this.quote = byId("report-quote");
    this.note = byId("report-text", HTMLTextAreaElement);
    this.error = byId("report-error");
    this.sendButton = byId("report-send", HTMLButtonElement);
    /** What the open dialog is about. @type {ReportRequest | null} */
    this.current = null;
    this.dialog.addEventListener("close", () => this.closed());
    byId("report-cancel").addEventListener("click", () => this.close());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault(); // method="dialog" would close it before the server answers
      this.submit();
    });
  }

  /** @param {ReportRequest} request */
  open(request) {
    this.current = request;
    this.form.reset();
    this.showError("");
    this.note.removeAttribute("aria-invalid");
    this.quote.textContent = request.text || "";
    this.quote.hidden = !request.text;
    this.dialog.showModal();
    this.firstReason().focus();
  }

  /** @param {string} text */
  showError(text) {
    this.error.textContent = text || "";
    this.error.hidden = !text;
  }

  firstReason() {
    return part(this.form, 'input[name="reason"]', HTMLInputElement);
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  closed() {
    // The close event comes in a task of its own: the dialog may have been opened again already
    // (Escape, then Enter on the same button at once); that one is still current.
    if (this.dialog.open) return;
    const was = this.current;
    this.current = null;
    if (!was) return;
    const target = was.restoreFocus?.() ?? (was.trigger?.isConnected ? was.trigger : null);
    target?.focus();
  }

  async submit() {
    if (!this.current) return;
    const chosen = /** @type {HTMLInputElement | null} */ (this.form.querySelector('input[name="reason"]:checked'));
    const text = this.note.value.trim();
    this.note.removeAttribute("aria-invalid");
    if (!chosen) {
      this.showError(t("chat.report_need_reason"));
      this.firstReason().focus();
      return;
    }
    if (chosen.value === "other" && !text) {
      this.showError(t("chat.report_need_text"));
      this.note.setAttribute("aria-invalid", "true");
      this.note.focus();
      return;
    }
    this.showError("");
    const request = this.current;
    /** @type {{channel: string, offset: number, reason: string, text?: string}} */
    const fields = { channel: request.channel, offset: request.offset, reason: chosen.value };
    if (text) fields.text = text;
    /** @type {{reply: FlagReply} | {failure: ProtocolError}} */
    const outcome = await busy(this.sendButton, async () => {
      try {
        return { reply: await request.client.request("flag", fields) };
      } catch (err) {
        return { failure: /** @type {ProtocolError} */ (err) }; // LinliClient rejects with these
      }
    });
    if (this.current !== request) return; // closed meanwhile
    if ("failure" in outcome) {
      this.showError(t("chat.report_failed", { reason: errorText(outcome.failure?.code) }));
      return;
    }
    request.done(outcome.reply?.duplicate === true);
    this.close();
  }
}
