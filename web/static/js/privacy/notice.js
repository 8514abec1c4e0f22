// @ts-check
// The privacy notice is server-rendered; it needs only the shared chrome (language, log out).
import "../common.js";
