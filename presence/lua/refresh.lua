-- refresh: push the expiry of many live connections, in any number of channels, ttl ahead.
-- An entry already swept is re-added: the gateway says the connection is alive. An entry that
-- left (within the last ttl, see common.lua) is not: that refresh raced the leave.
-- KEYS: four per channel, in order: exp ZSET, conn HASH, user HASH, left ZSET
-- ARGV[1] ttl ms, ARGV[2] key ttl ms, then per channel (same order as KEYS):
--   n, followed by n triples conn_id, user_id, name
-- (common.lua is prepended.)
local now = now_ms()
local ttl = tonumber(ARGV[1])
local key_ttl = ARGV[2]
local a = 3
for k = 1, #KEYS, 4 do
  local exp_key, conn_key, user_key, left_key = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local n = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, n do
    local conn = ARGV[a]
    local left_at = redis.call('ZSCORE', left_key, conn)
    if left_at == false or tonumber(left_at) <= now - ttl then
      attach(exp_key, conn_key, user_key, conn, ARGV[a + 1], ARGV[a + 2], now + ttl)
    end
    a = a + 3
  end
  touch(key_ttl, exp_key, conn_key, user_key)
end
return 0
