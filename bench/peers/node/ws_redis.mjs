// Peer: Node's `ws` server with one Redis pattern subscription for all rooms, like the Python
// websockets peer (bench/peers/ws_broadcast.py): a publish goes to Redis with PUBLISH and comes
// back through PSUBSCRIBE before it is fanned out, so several such servers could share rooms.
import { createClient } from "redis";
import { WebSocketServer } from "ws";
import { args, reply } from "./common.mjs";

const opts = args();
const rooms = new Map();
const pub = createClient({ url: opts.redisUrl });
const sub = pub.duplicate();
await Promise.all([pub.connect(), sub.connect()]);

const cut = opts.prefix.length;
await sub.pSubscribe(opts.prefix + "*", (message, channel) => {
  const members = rooms.get(channel.slice(cut));
  if (members) for (const ws of members) if (ws.readyState === 1) ws.send(message);
});

const wss = new WebSocketServer({ host: opts.host, port: opts.port, maxPayload: 65536, perMessageDeflate: false });
wss.on("connection", (ws) => {
  const mine = new Set();
  ws.on("message", async (data) => {
    const request = JSON.parse(data);
    const room = request.room;
    if (request.op === "subscribe") {
      if (!rooms.has(room)) rooms.set(room, new Set());
      rooms.get(room).add(ws);
      mine.add(room);
    } else if (request.op === "publish") {
      await pub.publish(opts.prefix + room, JSON.stringify({ push: "pub", room, text: request.text }));
    }
    ws.send(reply(request.id));
  });
  ws.on("close", () => {
    for (const room of mine) rooms.get(room)?.delete(ws);
  });
});
