// @ts-check
// Elder mode before the first paint (base.html loads this classic script in the head, after the
// page facts): the reader's text size and contrast from this browser's storage, set on <html>
// so linli.css draws the page at the right size at once. lib/display.js offers the controls and
// writes the choice; the format and the keys are described there.
(() => {
  try {
    const facts = document.getElementById("linli-page");
    const user = facts ? JSON.parse(facts.textContent || "{}").user : null;
    const own = user ? localStorage.getItem(`linli.display.${user.id}`) : null;
    const saved = JSON.parse(own ?? localStorage.getItem("linli.display") ?? "null");
    if (!saved) return;
    const root = document.documentElement;
    if (saved.size === 125 || saved.size === 150) root.dataset.textSize = String(saved.size);
    if (saved.contrast === true) root.dataset.contrast = "high";
  } catch {
    // No storage (a private window that refuses it) or a damaged entry: the default look.
  }
})();
