-- Publish one durable publication to a channel, atomically (see channels/broker.py).
--
-- KEYS[1]  meta hash of the channel (fields offset, epoch)
-- KEYS[2]  hot-history stream of the channel
-- KEYS[3]  work stream of the persist queue
-- KEYS[4]  (optional) dedupe key of the idempotency key
-- ARGV[1]  data (opaque bytes)
-- ARGV[2]  "1" to append to the persist work stream, "0" not to
-- ARGV[3]  history size (approximate MAXLEN of the history stream)
-- ARGV[4]  history TTL in seconds (refreshed on every publish)
-- ARGV[5]  dedupe TTL in milliseconds
-- ARGV[6]  pub/sub channel name
-- ARGV[7]  channel name (written into the work entry)
-- ARGV[8]  PUBLISH, or SPUBLISH under Redis Cluster (a shard channel in the keys' slot)
--
-- Returns {offset, epoch, duplicate (0/1)}, or {-1, 0, 0} when the channel has no counter:
-- the caller seeds it (seed.lua) and calls again.
--
-- Every check happens before the first write: a Lua error after a write would leave the
-- publication half done (scripts are not rolled back).

local dedupe_key = KEYS[4]
if dedupe_key then
  local previous = redis.call('GET', dedupe_key)
  if previous then
    local space = string.find(previous, ' ', 1, true)
    return {tonumber(string.sub(previous, 1, space - 1)), string.sub(previous, space + 1), 1}
  end
end

local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  return {-1, 0, 0}
end

local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
-- %d: tostring() of a large Lua number may switch to exponent notation.
local offset_s = string.format('%d', offset)

redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], offset_s .. '-1', 'e', epoch, 'd', ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[4])

if ARGV[2] == '1' then
  redis.call('XADD', KEYS[3], '*', 'channel', ARGV[7], 'offset', offset_s, 'epoch', epoch,
             'data', ARGV[1])
end

if dedupe_key then
  redis.call('SET', dedupe_key, offset_s .. ' ' .. epoch, 'PX', ARGV[5])
end

-- The frame a subscriber parses: "P<offset> <epoch> <data>".
redis.call(ARGV[8], ARGV[6], 'P' .. offset_s .. ' ' .. epoch .. ' ' .. ARGV[1])

return {offset, epoch, 0}
