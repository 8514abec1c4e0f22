-- Append an entry to a work queue unless its idempotency key was used in the dedupe window.
--
-- KEYS[1]  work stream
-- KEYS[2]  (optional) dedupe marker of the idempotency key
-- ARGV[1]  data
-- ARGV[2]  dedupe TTL in milliseconds
--
-- Returns 1 when appended, 0 when the key had been used.

if KEYS[2] then
  if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) == false then
    return 0
  end
end
redis.call('XADD', KEYS[1], '*', 'data', ARGV[1])
return 1
