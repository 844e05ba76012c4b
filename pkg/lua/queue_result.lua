-- queue_result.lua: read a finished job's result, unless it has expired.
--
-- KEYS[1] -> the job's result string (see queue_dequeue.lua)
-- ARGV[1] -> now in µs, or "0" to read Redis TIME
-- returns -> {} when there is no result (none, or expired), else {result}: the result string

local nows = ARGV[1]
if nows == '0' then
  local t = redis.call('TIME')
  nows = t[1] .. string.sub('00000' .. t[2], -6)
end

local r = redis.pcall('GET', KEYS[1])
if type(r) == 'table' and r.err then
  -- A result kept as a hash, before results became strings: d dead, b body, r reason,
  -- a attempts, t token, x expiry.
  local h = redis.call('HMGET', KEYS[1], 'd', 'b', 'r', 'a', 't', 'x')
  if not h[1] then
    return {}
  end
  r = h[1] .. '|' .. h[6] .. '|' .. string.format('%010d', tonumber(h[4])) .. '|' ..
    string.format('%019d', tonumber(h[5])) .. '|' .. #h[3] .. '|' .. h[3] .. h[2]
end
if not r then
  return {}
end
if not (tonumber(string.match(r, '^%d|(%-?%d+)|')) > tonumber(nows)) then
  return {}
end
return {r}
