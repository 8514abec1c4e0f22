// @ts-check
// The door: the organiser's phone reads a resident's QR code with the camera (BarcodeDetector,
// where the browser has it) or takes the short code typed in; each check-in is answered at once
// — in, or already checked in by whom and when — and the counts move live.
import { api } from "../common.js";
import { LinliClient, socketUrl } from "../client.js";
import { t } from "../i18n.js";
import { withBell } from "../lib/bell.js";
import { byId } from "../lib/dom.js";
import { LiveCounts, eventError } from "./shared.js";

const root = byId("checkin");
const eventId = Number(root.dataset.eventId);
const result = byId("checkin-result");
const live = new LiveCounts();
/** The code just read by the camera, so one QR code held up is checked in once. */
let lastScanned = "";

/** @param {string} code */
async function checkIn(code) {
  const r = await api("POST", `/api/events/${eventId}/checkin`, { code });
  result.className = r.ok ? "checkin-ok" : "checkin-refused";
  result.textContent = r.ok ? t("events.checkin.ok", { name: r.data.name ?? "" }) : eventError(r.error);
}

function showCounts() {
  let confirmed = 0;
  let checked = 0;
  for (const c of live.bySession.values()) {
    confirmed += c.confirmed;
    checked += c.checked_in;
  }
  byId("checkin-counts").textContent = t("events.checkin.counts", { checked, confirmed });
}

byId("code-form", HTMLFormElement).addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const input = byId("code", HTMLInputElement);
  await checkIn(input.value);
  input.value = "";
  input.focus();
});

/**
 * @typedef {{ detect(source: HTMLVideoElement): Promise<{ rawValue: string }[]> }} Detector
 */

async function startCamera() {
  /** @type {any} */
  const w = window;
  if (!("BarcodeDetector" in w) || !navigator.mediaDevices) return;
  /** @type {Detector} */
  const detector = new w.BarcodeDetector({ formats: ["qr_code"] });
  const video = byId("camera", HTMLVideoElement);
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  } catch {
    return; // no camera, or refused: the typed code still works
  }
  video.hidden = false;
  await video.play();
  const scan = async () => {
    try {
      const [found] = await detector.detect(video);
      if (found && found.rawValue !== lastScanned) {
        lastScanned = found.rawValue;
        await checkIn(found.rawValue);
      }
    } catch {
      // a frame the detector could not read: try the next
    }
    setTimeout(scan, 300);
  };
  scan();
}

async function load() {
  const r = await api("GET", `/api/events/${eventId}`);
  if (!r.ok) return;
  byId("checkin-title").textContent = r.data.event.title;
  live.apply(r.data.counts);
  showCounts();
}

const client = new LinliClient(socketUrl(), withBell({
  pub: (_channel, pub) => {
    const data = /** @type {import("./shared.js").CountsData} */ (/** @type {unknown} */ (pub.data));
    if (data?.kind === "counts" && live.apply(data.sessions)) showCounts();
  },
}));
client.start();
client.subscribe(`event:${eventId}`);
startCamera();
load();
