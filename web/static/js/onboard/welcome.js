// @ts-check
// The welcome after registering: the tour is offered on the chat page (onboard/tour.js) until it
// is seen; "skip" records it as seen now.
import { api } from "../common.js";
import { byId } from "../lib/dom.js";
import "./training.js";
import { TOUR_KEY } from "./tour.js";

localStorage.setItem(TOUR_KEY, "pending");
byId("skip-tour").addEventListener("click", async (event) => {
  event.preventDefault();
  localStorage.removeItem(TOUR_KEY);
  await api("POST", "/api/tour/seen", {});
  location.assign("/");
});
