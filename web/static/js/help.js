// @ts-check
// The guide page needs only the shared chrome (language switch, log out).
import "./common.js";
