// @ts-check
// The forgot-password page: the username, the reset code the management office gave, a new
// password; then the resident is logged in.
import { secretForm } from "../secret_form.js";

const { username } = secretForm({
  form: "reset-form",
  secret: "code",
  url: "/api/password-reset",
  next: "/",
  refused(error, name) {
    // Registered at the desk and never logged in: the password just set opens the first login.
    if (error.code === "password_change_required") {
      location.assign(`/first-login?${new URLSearchParams({ username: name })}`);
      return null;
    }
    return error.code === "invalid_reset_code" ? { ...error, field: "code" } : error;
  },
});

username.focus();
