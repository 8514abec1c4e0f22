-- Append a batch of entries to one work queue, each unless its idempotency key was used in the
-- dedupe window or its claim is held by another value. Entries are handled in order, exactly as
-- if each had been submitted alone; one script run serves a whole burst (a round trip, and
-- one command for the client to pack instead of one per entry).
--
-- KEYS[1]         work stream
-- KEYS[2..]       dedupe markers and claims hashes, referred to by index from ARGV
-- ARGV[1]         dedupe TTL in milliseconds
-- ARGV[2]         claims TTL in milliseconds
-- then per entry, five ARGV:
--   data, index in KEYS of its dedupe marker (0: none), index of its claims hash (0: none; needs
--   a dedupe marker), claim field, claim value (both '' without a claim)
--
-- Returns one integer per entry: 1 appended, 0 the idempotency key had been used, -1 the claim
-- field holds another value, -2 the claims hash was never seeded (or expired; the caller seeds
-- it with seed_claims.lua and submits again). Nothing is appended for 0, -1 and -2.

local results = {}
local n = 0
for i = 3, #ARGV, 5 do
  local data, dedupe, claims = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local field, value = ARGV[i + 3], ARGV[i + 4]
  local result = 1
  if claims > 0 then
    local held = redis.call('HMGET', KEYS[claims], ':seeded', field)
    if held[1] == false then
      result = -2
    elseif held[2] ~= false and held[2] ~= value then
      result = -1
    end
  end
  if result == 1 and dedupe > 0 then
    if redis.call('SET', KEYS[dedupe], '1', 'NX', 'PX', ARGV[1]) == false then
      result = 0
    end
  end
  if result == 1 then
    if claims > 0 then
      redis.call('HSET', KEYS[claims], field, value)
      redis.call('PEXPIRE', KEYS[claims], ARGV[2])
    end
    redis.call('XADD', KEYS[1], '*', 'data', data)
  end
  n = n + 1
  results[n] = result
end
return results
