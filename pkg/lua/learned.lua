-- learned.lua: read a key's learned paces and pause.
--
-- KEYS[1] -> the key's limiter hash (see take.lua and learn.lua)
-- ARGV[1] -> now in µs, or "0" to read Redis TIME
-- returns -> the request pace's interval µs, burst, until µs; the unit pace's three (zeros for a
--            pace not in force); the pause's end µs (0 when none); cuts

local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = t[1] * 1000000 + t[2]
end
local vals = redis.call('HMGET', KEYS[1], 'L', 'b')
local out = {0, 0, 0, 0, 0, 0, 0, 0}
local blocked = tonumber(vals[2]) or 0
if blocked > now then out[7] = blocked end
if vals[1] then
  local L = {}
  for w in string.gmatch(vals[1], '%S+') do L[#L + 1] = tonumber(w) end
  for j = 0, 4, 4 do
    if L[j + 1] > 0 and (L[j + 3] == 0 or now < L[j + 3]) then
      out[j * 3 / 4 + 1], out[j * 3 / 4 + 2], out[j * 3 / 4 + 3] = L[j + 1], L[j + 2], L[j + 3]
    end
  end
  out[8] = L[13]
end
return out
