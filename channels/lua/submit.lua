-- Append an entry to a work queue unless its idempotency key was used in the dedupe window, or
-- unless its claim is held by another value.
--
-- KEYS[1]  work stream
-- KEYS[2]  (optional) dedupe marker of the idempotency key
-- KEYS[3]  (optional, needs KEYS[2]) claims hash
-- ARGV[1]  data
-- ARGV[2]  dedupe TTL in milliseconds
-- ARGV[3]  (with KEYS[3]) claim field
-- ARGV[4]  (with KEYS[3]) claim value
-- ARGV[5]  (with KEYS[3]) claims TTL in milliseconds
--
-- Returns 1 when appended, 0 when the key had been used, -1 when the claim field holds another
-- value, -2 when the claims hash was never seeded (or expired): nothing is appended then, the
-- caller seeds it (``seed_claims.lua``) and submits again.

if KEYS[3] then
  local held = redis.call('HMGET', KEYS[3], ':seeded', ARGV[3])
  if held[1] == false then
    return -2
  end
  if held[2] ~= false and held[2] ~= ARGV[4] then
    return -1
  end
end
if KEYS[2] then
  if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) == false then
    return 0
  end
end
if KEYS[3] then
  redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
end
redis.call('XADD', KEYS[1], '*', 'data', ARGV[1])
return 1
