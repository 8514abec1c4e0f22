// @ts-check
// The top bar's menu on a phone or tablet (base.html): below 60em the links and tools fold behind one
// button, a disclosure (aria-expanded on the button, aria-controls naming the menu). Escape
// closes it and puts the focus back on the button; so does a click or a focus outside the bar.
// Without this script the menu is simply open, as on a desktop: the CSS folds it only once the
// bar has the `menu-folded` class this adds.

/** Fold below this many rem: 48rem is 60em at Linli's 20 px base, where the links stop fitting on
 * two lines; at 150 % text (elder mode) the rem is larger, so the menu folds on wider windows
 * too, which a media query (always in the browser's default em) cannot do. */
const FOLD_REM = 48;
/** Below this many rem the button shows only its icon (200 % zoom on a phone, or 150 % text). */
const COMPACT_REM = 18;

export function installTopMenu() {
  const bar = document.querySelector(".top-bar");
  const button = document.getElementById("menu-toggle");
  const menu = document.getElementById("top-menu");
  if (!(bar instanceof HTMLElement) || !(button instanceof HTMLButtonElement) || !menu) return;
  const isOpen = () => button.getAttribute("aria-expanded") === "true";
  /** @param {boolean} open @param {boolean} refocus */
  const set = (open, refocus) => {
    button.setAttribute("aria-expanded", String(open));
    bar.classList.toggle("menu-open", open);
    if (!open && refocus) button.focus();
  };
  button.addEventListener("click", () => set(!isOpen(), false));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && isOpen()) {
      event.preventDefault();
      set(false, true);
    }
  });
  document.addEventListener("click", (event) => {
    if (isOpen() && event.target instanceof Node && !bar.contains(event.target)) set(false, false);
  });
  bar.addEventListener("focusout", (event) => {
    const next = event.relatedTarget;
    if (isOpen() && next instanceof Node && !bar.contains(next)) set(false, false);
  });
  const fold = () => {
    const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 20;
    const folded = document.documentElement.clientWidth < FOLD_REM * rem;
    const was = bar.classList.contains("menu-folded");
    bar.classList.toggle("menu-folded", folded);
    bar.classList.toggle("menu-compact", document.documentElement.clientWidth < COMPACT_REM * rem);
    if (!folded && isOpen()) set(false, false);
    // Folding under the reader's hand (they just chose a larger text): the menu opens, so what
    // they were using stays where it is.
    if (folded && !was && menu.contains(document.activeElement)) set(true, false);
  };
  window.addEventListener("resize", fold);
  document.addEventListener("linli:display", fold); // the text size changed (lib/display.js)
  button.hidden = false;
  bar.classList.add("has-menu");
  fold();
}
