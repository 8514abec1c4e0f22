-- join: record a connection; return 1 when its user had no live connection in the channel.
-- KEYS[1] exp ZSET, KEYS[2] conn HASH, KEYS[3] user HASH, KEYS[4] left ZSET (of one channel)
-- ARGV[1] conn_id, ARGV[2] user_id, ARGV[3] name, ARGV[4] ttl ms, ARGV[5] key ttl ms
-- (common.lua is prepended.)
local exp_key, conn_key, user_key, left_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local conn, uid, name = ARGV[1], ARGV[2], ARGV[3]
local now = now_ms()

local had_live = false
for _, c in ipairs(get_conns(user_key, uid)) do
  if is_live(exp_key, c, now) then
    had_live = true
  elseif c ~= conn then
    -- The user's expired, unswept tab. The user is present again, so no leave is owed for
    -- it: drop it now rather than let a later leave or sweep announce a departure.
    drop(exp_key, conn_key, user_key, c, uid)
  end
end

-- A connection may leave a channel and join it again (unsubscribe, resubscribe): from now on
-- its refreshes count again.
redis.call('ZREM', left_key, conn)
attach(exp_key, conn_key, user_key, conn, uid, name, now + tonumber(ARGV[4]))
touch(ARGV[5], exp_key, conn_key, user_key)
if had_live then
  return 0
end
return 1
