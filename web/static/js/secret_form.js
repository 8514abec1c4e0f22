// @ts-check
// A form of a username, a one-time secret and a new password: the forgot-password page (the
// reset code the management office gave) and a desk-registered resident's first login (the first
// password or the printed code). Empty fields are named here, "show password" works, the button is
// busy while it posts; accepted, the page goes on; refused, the error goes to its field.
import { api, busy, showFormError } from "./common.js";
import { byId, part } from "./lib/dom.js";

/** @typedef {import("./types.js").ApiError} ApiError */

/**
 * @param {object} spec
 * @param {string} spec.form  the form's id
 * @param {string} spec.secret  the secret input's id, also its name in the request body
 * @param {string} spec.url  where the form posts
 * @param {string} spec.next  where the page goes once accepted
 * @param {(error: ApiError, username: string) => ApiError | null} [spec.refused]  a refusal
 *   turned into the error to show (null: handled, nothing to show)
 * @returns {{ username: HTMLInputElement, secret: HTMLInputElement }}
 */
export function secretForm(spec) {
  const form = byId(spec.form, HTMLFormElement);
  const username = byId("username", HTMLInputElement);
  const secret = byId(spec.secret, HTMLInputElement);
  const password = byId("password", HTMLInputElement);
  const show = byId("show-password", HTMLInputElement);

  show.addEventListener("change", () => {
    password.type = show.checked ? "text" : "password";
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const [input, field] of /** @type {const} */ ([[username, "username"], [secret, spec.secret], [password, "password"]])) {
      if (!input.value.trim()) {
        showFormError(form, { code: "bad_request", field });
        return;
      }
    }
    const result = await busy(part(form, "button[type=submit]", HTMLButtonElement), () =>
      api("POST", spec.url, {
        username: username.value.trim(), [spec.secret]: secret.value.trim(), password: password.value,
      }),
    );
    if (result.ok) {
      location.assign(spec.next);
      return;
    }
    const shown = spec.refused ? spec.refused(result.error, username.value.trim()) : result.error;
    if (shown) showFormError(form, shown);
  });
  return { username, secret };
}
