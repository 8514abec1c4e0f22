// @ts-check
// The one-page user guide: a print button (the page's print CSS leaves only the handbook).
import { byId } from "../lib/dom.js";
import "./training.js";

byId("print-handbook").addEventListener("click", () => window.print());
