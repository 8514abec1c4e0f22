-- members: the live entries of one channel, as {user_id1, name1, user_id2, name2, ...} in
-- ascending expiry order (so the caller keeps the most recently refreshed name of a user).
-- KEYS[1] exp ZSET, KEYS[2] conn HASH
-- ARGV: none
-- (common.lua is prepended.)
local now = now_ms()
local conns = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
local out = {}
for _, conn in ipairs(conns) do
  local uid, name = user_of(KEYS[2], conn)
  if uid ~= nil then
    out[#out + 1] = uid
    out[#out + 1] = name
  end
end
return out
