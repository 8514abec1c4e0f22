// @ts-check
// The error pages need only the shared chrome (language switch, log out).
import "./common.js";
