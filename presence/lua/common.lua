-- Helpers shared by every presence script: RedisPresence prepends this file to each of the
-- others before registering it, so each script is one self-contained chunk on the server.
--
-- Per channel (key names are built in presence_redis._ChannelKeys, nowhere else):
--   exp   ZSET  conn_id -> expiry, in Redis-server milliseconds
--   conn  HASH  conn_id -> "<user_id>\t<name>"
--   user  HASH  user_id -> JSON array of the user's conn_ids still held in exp (live or not)
--   left  ZSET  conn_id -> when it left (ms); kept for one ttl so that a refresh already in
--               flight when the connection left cannot bring it back as a ghost
-- An entry is live while its expiry is > now. Expired entries stay until `expire` sweeps them,
-- because whoever removes a user's last entry owes the "user left" announcement.

-- Server time, not the caller's: gateways with skewed clocks must agree on what has expired.
-- (Redis 7 replicates script effects, so TIME is allowed before writes.)
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function is_live(exp_key, conn, now)
  local score = redis.call('ZSCORE', exp_key, conn)
  return score ~= false and tonumber(score) > now
end

local function get_conns(user_key, uid)
  local raw = redis.call('HGET', user_key, uid)
  if not raw then
    return {}
  end
  return cjson.decode(raw)
end

local function set_conns(user_key, uid, conns)
  -- cjson encodes an empty table as {}, and an empty list means "no entry" anyway.
  if #conns == 0 then
    redis.call('HDEL', user_key, uid)
  else
    redis.call('HSET', user_key, uid, cjson.encode(conns))
  end
end

local function without(list, item)
  local out = {}
  for _, x in ipairs(list) do
    if x ~= item then
      out[#out + 1] = x
    end
  end
  return out
end

local function user_of(conn_key, conn)
  local raw = redis.call('HGET', conn_key, conn)
  if not raw then
    return nil, nil
  end
  -- user ids are integers, so the first tab is the separator; the name may contain tabs.
  local tab = string.find(raw, '\t', 1, true)
  return string.sub(raw, 1, tab - 1), string.sub(raw, tab + 1)
end

-- Remove one entry from all three structures (not touching anything else of its user).
local function drop(exp_key, conn_key, user_key, conn, uid)
  redis.call('ZREM', exp_key, conn)
  redis.call('HDEL', conn_key, conn)
  set_conns(user_key, uid, without(get_conns(user_key, uid), conn))
end

-- Record (or re-record) conn as uid's, expiring at `expiry`.
local function attach(exp_key, conn_key, user_key, conn, uid, name, expiry)
  local prev_uid = user_of(conn_key, conn)
  if prev_uid ~= nil and prev_uid ~= uid then
    -- A conn id reused for another user (a caller bug): keep the user lists consistent.
    set_conns(user_key, prev_uid, without(get_conns(user_key, prev_uid), conn))
  end
  redis.call('ZADD', exp_key, expiry, conn)
  redis.call('HSET', conn_key, conn, uid .. '\t' .. name)
  local conns = get_conns(user_key, uid)
  for _, c in ipairs(conns) do
    if c == conn then
      return
    end
  end
  conns[#conns + 1] = conn
  set_conns(user_key, uid, conns)
end

-- A channel nobody refreshes disappears on its own (key_ttl is a few times the entry ttl).
local function touch(key_ttl, ...)
  for _, key in ipairs({...}) do
    redis.call('PEXPIRE', key, key_ttl)
  end
end
