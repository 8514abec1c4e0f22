// @ts-check
// The figures page is rendered on the server (the figures need no script); this only writes
// the period's ends in the reader's own date format.
import "../common.js";
import { formatFullTime } from "../i18n.js";

for (const id of ["fig-since", "fig-until"]) {
  const el = document.getElementById(id);
  if (el?.dataset.ms) el.textContent = formatFullTime(Number(el.dataset.ms));
}
