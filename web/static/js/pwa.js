// @ts-check
// Every resident page (base.html) is part of the installable web app: the manifest is linked in
// the page's head and this registers the service worker (/sw.js), which shows pushes. It asks
// for nothing: notifications are offered later, at a moment that makes sense (lib/push-offer.js).
import { registerServiceWorker } from "./lib/push.js";

void registerServiceWorker(document.documentElement.lang.startsWith("en") ? "en" : "zh-Hant");
