-- Initialise a channel's counter unless it already has one (two gateways racing: the first wins
-- and both use its values).
--
-- KEYS[1]  meta hash of the channel (fields offset, epoch)
-- KEYS[2]  hot-history stream of the channel
-- ARGV[1]  seed: the highest offset persisted in the store
-- ARGV[2]  candidate epoch (milliseconds now, above any epoch the caller knew for the channel)
--
-- Returns {offset, epoch} of the channel's counter (the existing one, or the new one).

local existing = redis.call('HMGET', KEYS[1], 'offset', 'epoch')
if existing[1] and existing[2] then
  return {tonumber(existing[1]), existing[2]}
end

local offset = tonumber(ARGV[1])
local epoch = tonumber(ARGV[2])

-- The counter can be lost while the history survives (the meta key deleted or evicted). Start
-- above the history's last entry, or the next XADD with an explicit id would fail, and above its
-- epoch, so epochs keep growing.
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
if last then
  local id = last[1]
  local last_offset = tonumber(string.sub(id, 1, string.find(id, '-', 1, true) - 1))
  if last_offset > offset then
    offset = last_offset
  end
  local fields = last[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'e' then
      local last_epoch = tonumber(fields[i + 1])
      if last_epoch and last_epoch >= epoch then
        epoch = last_epoch + 1
      end
    end
  end
end

local offset_s = string.format('%d', offset)
local epoch_s = string.format('%d', epoch)
redis.call('HSET', KEYS[1], 'offset', offset_s, 'epoch', epoch_s)
return {offset, epoch_s}
