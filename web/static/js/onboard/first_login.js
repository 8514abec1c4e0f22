// @ts-check
// The first login of a resident registered at the management desk: the first password or the
// printed code, then a password of their own; then logged in and welcomed.
import { secretForm } from "../secret_form.js";

const { username, secret } = secretForm({
  form: "first-form",
  secret: "secret",
  url: "/api/first-login",
  next: "/welcome",
});

(username.value ? secret : username).focus();
