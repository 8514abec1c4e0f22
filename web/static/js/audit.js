// @ts-check
// The audit-log page is rendered by the server (web/moderation/audit.py): its filters are a plain
// GET form and the CSV a link with the same query. Nothing to do here but keep the "to" date
// from going before "from" in the date pickers.
const from = document.getElementById("from");
const to = document.getElementById("to");
if (from instanceof HTMLInputElement && to instanceof HTMLInputElement) {
  const sync = () => {
    to.min = from.value;
  };
  from.addEventListener("change", sync);
  sync();
}
