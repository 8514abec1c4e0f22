// @ts-check
// A building's printable poster: print it, or make the poster's invite code when it has none.
// The page carries no catalogue (it prints both languages; common.js needs one), so this asks
// the API itself, and an error shows the server's message.

const printButton = document.getElementById("print-poster");
printButton?.addEventListener("click", () => window.print());

const make = document.getElementById("make-code");
if (make instanceof HTMLButtonElement) {
  make.addEventListener("click", async () => {
    make.disabled = true;
    /** @type {string} */
    let problem;
    try {
      const response = await fetch(`/api/onboard/posters/${make.dataset.building}`, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json", "Content-Type": "application/json" },
        body: "{}",
      });
      if (response.ok) {
        location.reload();
        return;
      }
      const body = await response.json().catch(() => null);
      problem = body?.error?.message ?? String(response.status);
    } catch {
      problem = make.dataset.offline ?? "";
    }
    make.disabled = false;
    const error = document.getElementById("form-error");
    if (error) {
      error.textContent = problem;
      error.hidden = false;
    }
  });
}
export {};
