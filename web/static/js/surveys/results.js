// @ts-check
// The results page is drawn on the server (charts as SVG); it needs only the shared chrome.
import "../common.js";
