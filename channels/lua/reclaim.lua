-- Take over entries of a consumer group pending for at least min_idle_ms, and report how many
-- times each one has now been delivered (XAUTOCLAIM itself does not return the counts).
--
-- KEYS[1]  work stream
-- ARGV[1]  group
-- ARGV[2]  consumer taking the entries over
-- ARGV[3]  min idle time in milliseconds
-- ARGV[4]  at most this many entries
--
-- Returns a list of {id, {field, value, ...}, deliveries}, in id order.

local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local min_idle, count = ARGV[3], tonumber(ARGV[4])
local result = {}
local cursor = '0-0'
-- XAUTOCLAIM scans a bounded part of the pending list per call: continue from its cursor until
-- enough entries are claimed or the whole list was scanned.
repeat
  local reply = redis.call('XAUTOCLAIM', stream, group, consumer, min_idle, cursor,
                           'COUNT', count - #result)
  cursor = reply[1]
  for _, entry in ipairs(reply[2]) do
    -- Redis 6.2 reports entries deleted from the stream as nil; 7.0 lists them apart.
    if entry then
      local info = redis.call('XPENDING', stream, group, entry[1], entry[1], 1)[1]
      table.insert(result, {entry[1], entry[2], info[4]})
    end
  end
until cursor == '0-0' or #result >= count
return result
