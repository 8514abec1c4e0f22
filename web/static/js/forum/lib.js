// @ts-check
// What the forum's pages share: names in the reader's language and error sentences.
import { errorText, lang, t } from "../i18n.js";

/** @param {{name_zh: string, name_en: string}} c */
export function categoryName(c) {
  return lang === "en" ? c.name_en : c.name_zh;
}

/**
 * The forum's own sentence for an error code, else the common one.
 * @param {{code?: string, field?: string} | null | undefined} error
 */
export function forumError(error) {
  const code = error?.code;
  if (code === "topic_closed" || code === "blocked_word" || code === "not_found" || code === "muted") {
    return t(`forum.error.${code}`);
  }
  if (code?.startsWith("upload_")) return t("forum.error.upload");
  return errorText(code, error?.field);
}

/** A client id for a submit, so a resend after a lost answer stores the post once. */
export function newClientId() {
  return crypto.randomUUID().replaceAll("-", "");
}

/**
 * Upload one picture for the post being written; its id, or the error.
 * @param {File} file
 * @returns {Promise<{ok: true, id: number} | {ok: false, error: {code?: string}}>}
 */
export async function uploadPicture(file) {
  let response;
  try {
    response = await fetch(`/api/forum/images?name=${encodeURIComponent(file.name)}`, {
      method: "POST", body: file, credentials: "same-origin",
      headers: { "Content-Type": file.type || "application/octet-stream" },
    });
  } catch {
    return { ok: false, error: { code: "network" } };
  }
  const data = await response.json().catch(() => null);
  if (response.ok && data) return { ok: true, id: data.image.id };
  return { ok: false, error: data?.error ?? { code: "generic" } };
}

/**
 * Wire a file input to upload the chosen pictures at once; `ids()` gives what is ready.
 * @param {HTMLInputElement} input
 * @param {HTMLElement} status
 */
export function pictureInput(input, status) {
  /** @type {number[]} */
  let ready = [];
  input.addEventListener("change", async () => {
    ready = [];
    const files = [...(input.files ?? [])].slice(0, 4);
    status.textContent = t("forum.pictures_uploading");
    for (const file of files) {
      const result = await uploadPicture(file);
      if (!result.ok) {
        status.textContent = forumError(result.error);
        return;
      }
      ready.push(result.id);
    }
    status.textContent = ready.length ? t("forum.pictures_ready", { n: ready.length }) : "";
  });
  return {
    ids: () => ready,
    clear: () => { ready = []; input.value = ""; status.textContent = ""; },
  };
}
