// @ts-check
// Photos in chat rooms (docs/protocol.md, "Photos"): the composer's photo button (a file input
// for images: a phone offers its camera and its gallery), the chosen photo's preview, its
// upload before the message is published (a refused upload publishes nothing and keeps the
// text), and the full-size photo in a modal dialog when a thumbnail is tapped (closed by its
// button or Escape; the focus goes back to the thumbnail).
import { t } from "./i18n.js";
import { byId, node } from "./lib/dom.js";

/** @typedef {import("./types.js").PhotoRef} PhotoRef */

/** @typedef {{ok: true, id: string} | {ok: false, code: string}} UploadResult */

/**
 * Upload `file` as a photo for `channel`.
 * @param {string} channel
 * @param {File} file
 * @returns {Promise<UploadResult>}
 */
export async function uploadPhoto(channel, file) {
  let response;
  try {
    response = await fetch(`/api/rooms/${encodeURIComponent(channel)}/photos?name=${encodeURIComponent(file.name)}`, {
      method: "POST",
      body: file,
      credentials: "same-origin",
      headers: { "Content-Type": file.type || "application/octet-stream", Accept: "application/json" },
    });
  } catch {
    return { ok: false, code: "network" };
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.ok && typeof data?.photo?.id === "string") return { ok: true, id: data.photo.id };
  return { ok: false, code: data?.error?.code ?? "generic" };
}

export class PhotoComposer {
  constructor() {
    this.input = byId("photo-input", HTMLInputElement);
    this.button = byId("photo-attach", HTMLButtonElement);
    this.box = byId("photo-chosen");
    this.preview = byId("photo-preview", HTMLImageElement);
    this.name = byId("photo-name");
    /** @type {File | null} */
    this.file = null;
    /** @type {string | null} */
    this.url = null;
    this.button.addEventListener("click", () => this.input.click());
    this.input.addEventListener("change", () => this.choose(this.input.files?.[0] ?? null));
    byId("photo-remove").addEventListener("click", () => {
      this.clear();
      this.button.focus();
    });
  }

  /** @param {boolean} enabled */
  setEnabled(enabled) {
    this.button.disabled = !enabled;
  }

  /** @param {File | null} file */
  choose(file) {
    this.clear();
    if (!file) return;
    this.file = file;
    this.url = URL.createObjectURL(file);
    this.preview.src = this.url;
    this.name.textContent = t("photo.chosen", { name: file.name });
    this.box.hidden = false;
  }

  clear() {
    this.file = null;
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = null;
    this.preview.removeAttribute("src");
    this.name.textContent = "";
    this.box.hidden = true;
    this.input.value = "";
  }
}

// -- the full-size photo ---------------------------------------------------------------------------

/** @type {HTMLElement | null} */
let opener = null;

function dialog() {
  return byId("photo-dialog", HTMLDialogElement);
}

/**
 * The thumbnail of a message's photo: a button that opens it at full size.
 * @param {PhotoRef} photo
 * @param {string} caption  the message's text ("" for none)
 * @returns {HTMLButtonElement}
 */
export function photoThumb(photo, caption) {
  const alt = caption.trim() || t("photo.alt");
  const button = node("button", "msg-photo");
  button.type = "button";
  button.setAttribute("aria-label", t("photo.open", { alt }));
  const img = node("img", "msg-photo-img");
  img.src = photo.thumb_url;
  img.alt = alt;
  img.loading = "lazy";
  img.decoding = "async";
  // The thumbnail's shape before it loads (at most 480 px on the longer side), so the log does
  // not jump.
  const scale = Math.min(1, 480 / Math.max(photo.width || 1, photo.height || 1));
  if (photo.width && photo.height) {
    img.width = Math.round(photo.width * scale);
    img.height = Math.round(photo.height * scale);
  }
  button.append(img);
  button.addEventListener("click", () => openPhoto(photo, alt, caption, button));
  return button;
}

/**
 * @param {PhotoRef} photo
 * @param {string} alt
 * @param {string} caption
 * @param {HTMLElement} from  gets the focus back on closing
 */
function openPhoto(photo, alt, caption, from) {
  const box = dialog();
  const full = byId("photo-full", HTMLImageElement);
  full.src = photo.url;
  full.alt = alt;
  byId("photo-caption").textContent = caption;
  byId("photo-original", HTMLAnchorElement).href = photo.url;
  opener = from;
  box.showModal();
  byId("photo-close").focus();
}

/** Wire the dialog's close button and the focus's return (once, on a page that has it). */
export function setUpPhotoDialog() {
  const box = dialog();
  byId("photo-close").addEventListener("click", () => box.close());
  // A tap outside the photo (on the backdrop) closes it too.
  box.addEventListener("click", (event) => {
    if (event.target === box) box.close();
  });
  box.addEventListener("close", () => {
    byId("photo-full", HTMLImageElement).removeAttribute("src");
    if (opener?.isConnected) opener.focus();
    opener = null;
  });
}
