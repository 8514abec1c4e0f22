-- expire: sweep up to ARGV[1] expired connections of one channel; return the users whose last
-- entry was swept (a user with an expired tab and a live one stays, so is not returned).
-- KEYS[1] exp ZSET, KEYS[2] conn HASH, KEYS[3] user HASH (of one channel)
-- ARGV[1] batch size
-- Returns {more, user_id1, name1, user_id2, name2, ...}; more = 1 when the batch was full and
-- the caller should call again. Bounded so a dead gateway's thousands of entries never block
-- the server in one long script.
-- (common.lua is prepended.)
local exp_key, conn_key, user_key = KEYS[1], KEYS[2], KEYS[3]
local limit = tonumber(ARGV[1])
local now = now_ms()

local expired = redis.call('ZRANGEBYSCORE', exp_key, '-inf', now, 'LIMIT', 0, limit)
local out = {0}
if #expired == limit then
  out[1] = 1
end
local gone = {}
for _, conn in ipairs(expired) do
  local uid, name = user_of(conn_key, conn)
  if uid == nil then
    redis.call('ZREM', exp_key, conn)
  else
    drop(exp_key, conn_key, user_key, conn, uid)
    -- Only an empty list means gone: remaining expired tabs are announced when swept.
    if redis.call('HEXISTS', user_key, uid) == 0 then
      gone[uid] = name
    end
  end
end
for uid, name in pairs(gone) do
  out[#out + 1] = uid
  out[#out + 1] = name
end
return out
