// @ts-check
// The community-figures page is drawn on the server (tables and SVG charts that also print);
// it needs only the shared chrome, and a print button.
import "./common.js";
import { find } from "./lib/dom.js";

const print = find(document, "#print-figures");
if (print instanceof HTMLButtonElement) {
  print.hidden = false;
  print.addEventListener("click", () => window.print());
}
