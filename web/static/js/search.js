// @ts-check
// The search page is a plain form rendered on the server; it needs only the shared chrome
// (language switch, log out).
import "./common.js";
