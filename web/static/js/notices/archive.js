// @ts-check
// The archive: server-rendered and printable; the script adds the print button.
import "../common.js";

document.getElementById("print-button")?.addEventListener("click", () => print());
