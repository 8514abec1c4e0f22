// Peer (the ceiling): Node's `ws` server fanning a publication out to the room's sockets in the
// same process, with no Redis at all — what one Node process can do when it needs no broker.
// Each delivery is one ws.send(), as in the ws README's broadcast example.
import { WebSocketServer } from "ws";
import { args, reply } from "./common.mjs";

const opts = args();
const rooms = new Map();

function broadcast(room, frame) {
  const members = rooms.get(room);
  if (members) for (const ws of members) if (ws.readyState === 1) ws.send(frame);
}

const wss = new WebSocketServer({ host: opts.host, port: opts.port, maxPayload: 65536, perMessageDeflate: false });
wss.on("connection", (ws) => {
  const mine = new Set();
  ws.on("message", (data) => {
    const request = JSON.parse(data);
    const room = request.room;
    if (request.op === "subscribe") {
      if (!rooms.has(room)) rooms.set(room, new Set());
      rooms.get(room).add(ws);
      mine.add(room);
    } else if (request.op === "publish") {
      broadcast(room, JSON.stringify({ push: "pub", room, text: request.text }));
    }
    ws.send(reply(request.id));
  });
  ws.on("close", () => {
    for (const room of mine) rooms.get(room)?.delete(ws);
  });
});
