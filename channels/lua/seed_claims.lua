-- Seed a claims hash (see submit.lua) unless it is seeded already: every field that is not set
-- yet gets its value, then the hash is marked seeded.
--
-- KEYS[1]  claims hash
-- ARGV[1]  claims TTL in milliseconds
-- ARGV[2], ARGV[3], ...  field, value, field, value, ...
--
-- Returns 1 when this call seeded it, 0 when it was seeded already.

if redis.call('HEXISTS', KEYS[1], ':seeded') == 1 then
  return 0
end
for i = 2, #ARGV, 2 do
  redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], ':seeded', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
