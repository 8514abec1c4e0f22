// Peer: Socket.IO on Node with @socket.io/redis-adapter — the usual way to scale Socket.IO out.
// io.to(room).emit() writes to the local members at once and publishes the packet to Redis for
// the other servers (none here). Relay only: no offsets, history or durable queue.
import { createServer } from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";
import { args } from "./common.mjs";

const opts = args();
const pub = createClient({ url: opts.redisUrl });
const sub = pub.duplicate();
await Promise.all([pub.connect(), sub.connect()]);

const io = new Server({
  adapter: createAdapter(pub, sub, { key: opts.prefix + "socket.io" }),
  transports: ["websocket"],
  perMessageDeflate: false,
  maxHttpBufferSize: 65536,
});
io.on("connection", (socket) => {
  socket.on("subscribe", (room, ack) => {
    socket.join(room);
    ack({});
  });
  socket.on("publish", (data, ack) => {
    io.to(data.room).emit("pub", data);
    ack({});
  });
});
const http = createServer();
io.attach(http);
http.listen(opts.port, opts.host);
