// @ts-check
// Elder mode: a text size (100 / 125 / 150 % of Linli's already large base) and a high-contrast
// look, chosen in the top bar (base.html: the "Aa" button opens #display-tools; on a phone it is in
// the menu) and remembered in this browser:
//
// * `linli.display.<user id>`: the resident's own choice, so two people sharing a tablet each
//   keep theirs;
// * `linli.display`: the last choice made in this browser, used where there is no own one yet
//   (the login page, or a resident who has not chosen).
//
// Both hold `{"size": 100 | 125 | 150, "contrast": boolean}`. display-early.js applies them
// before the first paint; this module applies a change at once and keeps the buttons' state.
import { page } from "../i18n.js";

export const SIZES = /** @type {const} */ ([100, 125, 150]);

/** @typedef {{size: number, contrast: boolean}} Display */

/** @returns {Display} what <html> shows now */
function current() {
  const root = document.documentElement;
  return { size: Number(root.dataset.textSize ?? 100), contrast: root.dataset.contrast === "high" };
}

/** @param {Display} display */
function apply(display) {
  const root = document.documentElement;
  if (display.size === 100) delete root.dataset.textSize;
  else root.dataset.textSize = String(display.size);
  if (display.contrast) root.dataset.contrast = "high";
  else delete root.dataset.contrast;
}

/** @param {Display} display */
function save(display) {
  const value = JSON.stringify(display);
  try {
    localStorage.setItem("linli.display", value);
    if (page.user) localStorage.setItem(`linli.display.${page.user.id}`, value);
  } catch {
    // Storage refused: the choice lasts for this page only.
  }
}

export function installDisplayTools() {
  const group = document.getElementById("display-tools");
  if (!group) return;
  const sizes = [...group.querySelectorAll("button.text-size")].filter((b) => b instanceof HTMLButtonElement);
  const contrast = document.getElementById("contrast-toggle");
  const show = () => {
    const now = current();
    for (const button of sizes) button.setAttribute("aria-pressed", String(Number(button.dataset.size) === now.size));
    contrast?.setAttribute("aria-pressed", String(now.contrast));
  };
  /** @param {Partial<Display>} change */
  const choose = (change) => {
    const next = { ...current(), ...change };
    apply(next);
    save(next);
    show();
    document.dispatchEvent(new Event("linli:display")); // the top menu folds or unfolds
  };
  for (const button of sizes) {
    button.addEventListener("click", () => choose({ size: Number(button.dataset.size) }));
  }
  contrast?.addEventListener("click", () => choose({ contrast: !current().contrast }));
  show();
  // The disclosure: the button shows and hides the group; Escape closes it and the focus goes
  // back to the button.
  const toggle = document.getElementById("display-toggle");
  if (!(toggle instanceof HTMLButtonElement)) {
    group.hidden = false;
    return;
  }
  /** @param {boolean} open @param {boolean} refocus */
  const set = (open, refocus) => {
    toggle.setAttribute("aria-expanded", String(open));
    group.hidden = !open;
    if (!open && refocus) toggle.focus();
  };
  toggle.addEventListener("click", () => set(toggle.getAttribute("aria-expanded") !== "true", false));
  group.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.stopPropagation(); // the top menu around it stays open
      set(false, true);
    }
  });
  document.addEventListener("click", (event) => {
    const box = toggle.parentElement;
    if (!group.hidden && event.target instanceof Node && box && !box.contains(event.target)) set(false, false);
  });
  toggle.hidden = false;
}
