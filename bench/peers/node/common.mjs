// Command line shared by the Node peers, the same as the Python ones (bench/peers/common.py):
// --host, --port, --redis-url, --prefix.
import { parseArgs } from "node:util";

export function args() {
  const { values } = parseArgs({
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      "redis-url": { type: "string", default: "" },
      prefix: { type: "string", default: "bench:peer:" },
    },
  });
  if (!values.port) throw new Error("--port is required");
  return { host: values.host, port: Number(values.port), redisUrl: values["redis-url"], prefix: values.prefix };
}

// The peers' JSON protocol (bench/peers/__init__.py): subscribe / publish, answered
// {"id", "ok": {}}; a publication is {"push": "pub", "room", "text"}.
export function reply(id) {
  return `{"id":${Number(id)},"ok":{}}`;
}
