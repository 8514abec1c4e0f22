// @ts-check
// The requests page: file a request (category, where, text, private or not), with the open
// requests of the same place and category shown first so a resident can follow one instead of
// sending the same again; and the resident's own and followed requests.
import { api, busy, showFormError } from "../common.js";
import { t } from "../i18n.js";
import { byId, control, node } from "../lib/dom.js";
import { requestLine, uploadPhoto } from "./shared.js";

/** persistence/requests MAX_PHOTOS. */
const MAX_PHOTOS = 5;

/** @typedef {import("./types.js").MetaBody} MetaBody */
/** @typedef {import("./types.js").ListBody} ListBody */
/** @typedef {import("./types.js").RequestItem} RequestItem */

const form = /** @type {HTMLFormElement | null} */ (document.getElementById("new-form"));
const mineList = byId("mine-list", HTMLUListElement);

async function loadMine() {
  /** @type {import("../types.js").ApiResult<ListBody>} */
  const result = await api("GET", "/api/requests/mine");
  if (!result.ok) return;
  mineList.replaceChildren(...result.data.requests.map((r) => requestLine(r, { overdue: false })));
  byId("mine-none").hidden = result.data.requests.length > 0;
}

/** @param {HTMLFormElement} form */
function setUpForm(form) {
  const place = /** @type {HTMLSelectElement} */ (control(form, "place_id"));
  const floor = /** @type {HTMLInputElement} */ (control(form, "floor"));
  const similar = byId("similar");
  const similarList = byId("similar-list", HTMLUListElement);
  const category = () =>
    /** @type {HTMLInputElement | null} */ (form.querySelector("input[name=category]:checked"))?.value ?? "repair";
  let asked = 0;

  async function suggest() {
    const mine = ++asked;
    const params = new URLSearchParams({ category: category(), place_id: place.value, floor: floor.value.trim() });
    /** @type {import("../types.js").ApiResult<ListBody>} */
    const result = await api("GET", `/api/requests/similar?${params}`);
    if (mine !== asked || !result.ok) return;
    const found = result.data.requests;
    similarList.replaceChildren(...found.map(similarItem));
    similar.hidden = found.length === 0 || (!place.value && !floor.value.trim());
  }

  /** @param {RequestItem} item */
  function similarItem(item) {
    const li = requestLine(item);
    const button = node("button", "button-quiet", t("requests.similar.follow"));
    button.type = "button";
    button.addEventListener("click", async () => {
      const result = await api("POST", `/api/requests/${item.id}/follow`, {});
      if (result.ok) {
        button.textContent = t("requests.similar.following");
        button.disabled = true;
        loadMine();
      }
    });
    li.append(button);
    return li;
  }

  form.addEventListener("change", (event) => {
    if (event.target instanceof HTMLInputElement && event.target.name === "text") return;
    suggest();
  });
  floor.addEventListener("input", () => suggest());
  const photoInput = byId("photos", HTMLInputElement);
  photoInput.addEventListener("change", () => {
    const many = (photoInput.files?.length ?? 0) > MAX_PHOTOS;
    const error = byId("photos-error");
    error.textContent = many ? t("requests.new.too_many") : "";
    error.hidden = !many;
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showFormError(form, null);
    const submit = /** @type {HTMLButtonElement} */ (form.querySelector("button[type=submit]"));
    /** @type {Record<string, unknown>} */
    const body = {
      category: category(),
      text: /** @type {HTMLTextAreaElement} */ (control(form, "text")).value,
      floor: floor.value,
      place_id: place.value ? Number(place.value) : null,
      own_unit: byId("own_unit", HTMLInputElement).checked,
      private: byId("private", HTMLInputElement).checked,
    };
    if (form.dataset.sourceChannel) {
      body.source_channel = form.dataset.sourceChannel;
      body.source_offset = Number(form.dataset.sourceOffset);
    }
    const photos = [...(byId("photos", HTMLInputElement).files ?? [])];
    const result = await busy(submit, async () => {
      const made = await api("POST", "/api/requests", body);
      if (!made.ok) return made;
      // The request is filed; its photos follow one by one (a refused one is said on its page,
      // where more can be added).
      const failed = [];
      for (const file of photos.slice(0, MAX_PHOTOS)) {
        const code = await uploadPhoto(made.data.request.id, file);
        if (code) failed.push(`${file.name}: ${code}`);
      }
      if (failed.length) sessionStorage.setItem(`request-${made.data.request.id}-photos`, failed.join("\n"));
      return made;
    });
    if (!result.ok) {
      showFormError(form, result.error);
      return;
    }
    location.assign(`/requests/${result.data.request.id}`);
  });

  (async () => {
    /** @type {import("../types.js").ApiResult<MetaBody>} */
    const meta = await api("GET", "/api/requests/meta");
    if (!meta.ok) return;
    for (const p of meta.data.places) {
      const option = node("option", undefined, p.name);
      option.value = String(p.id);
      place.append(option);
    }
  })();
}

if (form) setUpForm(form);
loadMine();
