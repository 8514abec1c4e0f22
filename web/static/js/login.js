import { api, busy, showFormError } from "./common.js";

const form = document.getElementById("login-form");
const username = document.getElementById("username");
const password = document.getElementById("password");

document.getElementById("show-password").addEventListener("change", (event) => {
  password.type = event.currentTarget.checked ? "text" : "password";
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!username.value.trim()) {
    showFormError(form, { code: "bad_request", field: "username" });
    return;
  }
  if (!password.value) {
    showFormError(form, { code: "bad_request", field: "password" });
    return;
  }
  const result = await busy(form.querySelector("button[type=submit]"), () =>
    api("POST", "/api/login", { username: username.value.trim(), password: password.value }),
  );
  if (result.ok) {
    location.assign("/");
    return;
  }
  // A wrong password says nothing about which of the two was wrong; keep the focus on the
  // password, which is what most people mistype.
  showFormError(form, result.error.code === "wrong_credentials" ? { ...result.error, field: "password" } : result.error);
});

username.focus();
