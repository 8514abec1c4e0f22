// @ts-check
// The posters' list is rendered on the server; nothing to do here but exist (base.html loads
// the page's script by name).
export {};
