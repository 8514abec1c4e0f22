// @ts-check
// A building's printable poster: print it, or make the poster's invite code when it has none.
// The page carries no catalogue (it prints both languages); errors show the server's message.
import { api } from "../common.js";

const print = document.getElementById("print-poster");
print?.addEventListener("click", () => window.print());

const make = document.getElementById("make-code");
if (make instanceof HTMLButtonElement) {
  make.addEventListener("click", async () => {
    make.disabled = true;
    const result = await api("POST", `/api/onboard/posters/${make.dataset.building}`, {});
    if (result.ok) {
      location.reload();
      return;
    }
    make.disabled = false;
    const error = document.getElementById("form-error");
    if (error) {
      error.textContent = result.error.message ?? result.error.code;
      error.hidden = false;
    }
  });
}
