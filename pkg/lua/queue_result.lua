-- queue_result.lua: read a finished job's result, unless it has expired.
--
-- KEYS[1] -> the job's result hash: d dead (0/1), b body, r reason, a attempts, t the token
--            that finished the job, x expiry in µs
-- ARGV[1] -> now in µs, or "0" to read Redis TIME
-- returns -> {} when there is no result (none, or expired), else {dead, body, reason, attempts}

local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local r = redis.call('HMGET', KEYS[1], 'd', 'b', 'r', 'a', 'x')
if not r[1] or not (tonumber(r[5]) > now) then
  return {}
end
return {r[1], r[2], r[3], r[4]}
