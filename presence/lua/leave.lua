-- leave: remove a live connection; return 1 when it was its user's last live one.
-- KEYS[1] exp ZSET, KEYS[2] conn HASH, KEYS[3] user HASH, KEYS[4] left ZSET (of one channel)
-- ARGV[1] conn_id, ARGV[2] ttl ms, ARGV[3] key ttl ms
-- (common.lua is prepended.) The user is the one the connection was joined as.
local exp_key, conn_key, user_key, left_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local conn = ARGV[1]
local now = now_ms()

-- Whatever happens below, the connection is closed: a refresh racing this leave must not
-- re-add it (tombstones older than one ttl can no longer matter and are trimmed).
redis.call('ZREMRANGEBYSCORE', left_key, '-inf', now - tonumber(ARGV[2]))
redis.call('ZADD', left_key, now, conn)
touch(ARGV[3], left_key)

if not is_live(exp_key, conn, now) then
  -- Never joined, already left or swept: nothing to do. Or expired but not yet swept: the user
  -- may already count as gone, and `expire` owes the announcement, so leave the entry to it.
  return 0
end

local uid = user_of(conn_key, conn)
drop(exp_key, conn_key, user_key, conn, uid)
local rest = get_conns(user_key, uid)
for _, c in ipairs(rest) do
  if is_live(exp_key, c, now) then
    return 0
  end
end
-- The user is gone and the caller announces it now: their remaining (expired) entries go too,
-- or a later sweep would announce the same departure again.
for _, c in ipairs(rest) do
  drop(exp_key, conn_key, user_key, c, uid)
end
return 1
