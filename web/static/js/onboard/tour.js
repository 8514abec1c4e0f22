// @ts-check
// The first-login tour of the residents' pages: five short steps in a dialog over the chat page,
// each pointing at the part it names when the page has it; skippable at every step; remembered
// as seen on the server (POST /api/tour/seen), so no device offers it again. It runs only when
// asked: ?tour=1, or the welcome page left it pending on this device.
import { api } from "../common.js";
import { page, t } from "../i18n.js";

export const TOUR_KEY = "linli.tour";

/** @type {{key: string, target: string}[]} */
const STEPS = [
  { key: "welcome", target: "" },
  { key: "rooms", target: "main" },
  { key: "menu", target: ".top-nav" },
  { key: "bell", target: "#bell" },
  { key: "help", target: 'a[href="/help"]' },
];

/** @param {string} tag @param {string} [className] @param {string} [text] */
function el(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text) made.textContent = text;
  return made;
}

async function done() {
  localStorage.removeItem(TOUR_KEY);
  const url = new URL(location.href);
  if (url.searchParams.has("tour")) {
    url.searchParams.delete("tour");
    history.replaceState(history.state, "", url);
  }
  await api("POST", "/api/tour/seen", {});
}

function show() {
  const style = document.createElement("link");
  style.rel = "stylesheet";
  style.href = "/static/css/onboard.css";
  document.head.append(style);
  const dialog = /** @type {HTMLDialogElement} */ (el("dialog", "tour"));
  dialog.id = "tour";
  dialog.setAttribute("aria-labelledby", "tour-title");
  dialog.setAttribute("aria-describedby", "tour-text");
  const count = el("p", "tour-count");
  const title = el("h2");
  title.id = "tour-title";
  const text = el("p");
  text.id = "tour-text";
  const buttons = el("div", "tour-buttons");
  const back = /** @type {HTMLButtonElement} */ (el("button", "button-quiet", t("onboard.tour.back")));
  const next = /** @type {HTMLButtonElement} */ (el("button", "button-primary"));
  const skip = /** @type {HTMLButtonElement} */ (el("button", "button-quiet", t("onboard.tour.skip")));
  for (const b of [back, next, skip]) b.type = "button";
  back.id = "tour-back";
  next.id = "tour-next";
  skip.id = "tour-skip";
  buttons.append(back, next, skip);
  dialog.append(count, title, text, buttons);
  document.body.append(dialog);
  let at = 0;
  /** @type {Element | null} */
  let marked = null;

  function render() {
    const step = STEPS[at];
    count.textContent = t("onboard.tour.count", { n: at + 1, total: STEPS.length });
    title.textContent = t(`onboard.tour.${step.key}.title`);
    text.textContent = t(`onboard.tour.${step.key}.text`);
    back.hidden = at === 0;
    next.textContent = t(at === STEPS.length - 1 ? "onboard.tour.finish" : "onboard.tour.next");
    marked?.classList.remove("tour-target");
    marked = step.target ? document.querySelector(step.target) : null;
    marked?.classList.add("tour-target");
    marked?.scrollIntoView({ block: "nearest" });
    next.focus();
  }

  async function close() {
    marked?.classList.remove("tour-target");
    dialog.close();
    dialog.remove();
    await done();
  }

  back.addEventListener("click", () => {
    at = Math.max(0, at - 1);
    render();
  });
  next.addEventListener("click", async () => {
    if (at === STEPS.length - 1) {
      await close();
      return;
    }
    at += 1;
    render();
  });
  skip.addEventListener("click", close);
  // Escape skips too (the dialog's own cancel).
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault();
    void close();
  });
  dialog.showModal();
  render();
}

async function start() {
  if (!page.user || page.page !== "chat") return;
  const asked = new URLSearchParams(location.search).get("tour") === "1";
  if (!asked && localStorage.getItem(TOUR_KEY) !== "pending") return;
  if (!asked) {
    const result = await api("GET", "/api/tour");
    if (result.ok && /** @type {{seen: boolean}} */ (result.data).seen) {
      localStorage.removeItem(TOUR_KEY);
      return;
    }
  }
  show();
}

void start();
