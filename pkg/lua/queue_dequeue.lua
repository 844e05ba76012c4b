-- queue_dequeue.lua: ack held jobs, if asked, then promote due delayed jobs and hand out the best
-- ready jobs under leases, one to each of several callers: the acks and dequeues of several
-- callers combined into one call, each as it would be in a call of its own.
--
-- KEYS[1] -> the meta hash (see queue_enqueue.lua)
-- KEYS[2] -> the payload hash (see queue_enqueue.lua)
-- KEYS[3] -> the in-flight set: id scored by lease deadline in µs
-- KEYS[4] -> with acks: the first acked job's result string, "<dead: 0 or 1>|<expiry in µs>|
--            <attempts, 10 digits>|<the token that finished the job, 19 digits>|<length of the
--            reason>|<reason><body>"; without, any key of the queue, untouched
-- KEYS[5] -> with leases or more than one ack (one ack alone passes KEYS[1] to KEYS[4]): the
--            ready set (see queue_enqueue.lua)
-- KEYS[6] -> the delayed set: id scored by due time in µs
-- KEYS[7] -> the counter hash: field "token" is the last token issued
-- KEYS[8] -> the wake list (see queue_enqueue.lua)
-- KEYS[9] -> with a second ack: its result string; the third ack's is KEYS[10], and so on: the
--            k-th ack's (k >= 2) is KEYS[k + 7]
-- ARGV[1] -> now in µs, or "0" to read Redis TIME
-- ARGV[2] -> how many acks, 0 to 32; each takes five arguments, the first's ARGV[3] to ARGV[7]:
-- ARGV[3] -> the acked job's id
-- ARGV[4] -> the ack's token, 19 digits (as the meta hash holds it)
-- ARGV[5] -> the result body
-- ARGV[6] -> the result's TTL in µs
-- ARGV[7] -> how long Redis keeps the result, in ms
-- then   -> the other acks' five each; then n, how many leases to hand out, then for each the
--            lease in µs (> 0) and "1" when earlier calls of that dequeue promoted jobs, "0"
--            otherwise
-- returns -> {ack, ..., lease, ...}: each ack's outcome, then each lease's, in order.
--            An ack is 0 when the job was acked, 1 when the ack repeats the ack that finished
--            the job with the same token (nothing changes), 2 when the job is not in flight
--            under that token (the lease was lost).
--            A lease is 1 when the call promoted a full batch (100 due jobs, earliest due first)
--            and handed out nothing: more delayed jobs may be due, and the caller must call
--            again, so that the job handed out is the best of all the due ones; else {} when
--            nothing is ready, or {id, meta, payload, deadline_us}: meta is the job's meta entry
--            as this call leaves it (its attempt counts this delivery, its token is the
--            lease's), payload the payload if the entry does not hold it ("" otherwise), the
--            deadline a decimal string.

-- Numbers cost: every argument of redis.call is a string, and a number is read only when needed.
local nows = ARGV[1]
if nows == '0' then
  local t = redis.call('TIME')
  nows = t[1] .. string.sub('00000' .. t[2], -6)
end

-- repeated tells whether a result r (nil or false when there is none) is that of an ack that
-- finished the job under token and has not expired.
local function repeated(r, token, now)
  if type(r) ~= 'string' then -- none, or kept as a hash before results became strings
    return false
  end
  local x, t = string.match(r, '^0|(%-?%d+)|%d+|(%d+)|')
  return t == token and tonumber(x) > now
end

local out, i = {}, 3
if ARGV[2] == '1' then
  -- One ack, the common case, without the tables that several need.
  i = 8
  local id, token = ARGV[3], ARGV[4]
  local m = redis.call('HGET', KEYS[1], id)
  -- (A meta entry written before tokens moved into it, see current, holds no lease.)
  if m and string.sub(m, 12, 30) == token then
    redis.call('ZREM', KEYS[3], id)
    redis.call('HDEL', KEYS[1], id)
    if string.byte(m, 32) == 120 then -- "x"
      redis.call('HDEL', KEYS[2], id)
    end
    redis.call('SET', KEYS[4], '0|' .. string.format('%d', tonumber(nows) + tonumber(ARGV[6])) .. '|' ..
      string.sub(m, 1, 10) .. '|' .. token .. '|0|' .. ARGV[5], 'PX', ARGV[7])
    out[1] = 0
  elseif repeated(redis.pcall('GET', KEYS[4]), token, tonumber(nows)) then
    out[1] = 1
  else
    out[1] = 2
  end
elseif ARGV[2] ~= '0' then
  local a = tonumber(ARGV[2])
  local ids = {}
  for k = 1, a do
    ids[k] = ARGV[i + 5 * k - 5]
  end
  local metas = redis.call('HMGET', KEYS[1], unpack(ids))
  local now = tonumber(nows)
  local acked, ext, seen, expiry = {}, {}, {}, {}
  for k, id in ipairs(ids) do
    local j = i + 5 * k - 5
    local m, token, ttl = metas[k], ARGV[j + 1], ARGV[j + 3]
    if seen[id] then
      -- Acked already by this call: a repeat when under the same token.
      out[k] = seen[id] == token and 1 or 2
    elseif m and string.sub(m, 12, 30) == token then
      seen[id] = token
      acked[#acked + 1] = id
      if string.byte(m, 32) == 120 then -- "x"
        ext[#ext + 1] = id
      end
      local x = expiry[ttl]
      if not x then -- callers mostly share a TTL: one sum for all of them
        x = string.format('%d', now + tonumber(ttl))
        expiry[ttl] = x
      end
      redis.call('SET', KEYS[k == 1 and 4 or k + 7], '0|' .. x .. '|' .. string.sub(m, 1, 10) .. '|' .. token ..
        '|0|' .. ARGV[j + 2], 'PX', ARGV[j + 4])
      out[k] = 0
    elseif repeated(redis.pcall('GET', KEYS[k == 1 and 4 or k + 7]), token, now) then
      out[k] = 1
    else
      out[k] = 2
    end
  end
  if #acked > 0 then
    redis.call('ZREM', KEYS[3], unpack(acked))
    redis.call('HDEL', KEYS[1], unpack(acked))
    if #ext > 0 then
      redis.call('HDEL', KEYS[2], unpack(ext))
    end
  end
  i = i + 5 * a
end

local n = ARGV[i] == '1' and 1 or tonumber(ARGV[i])
if n == 0 then
  return out
end

-- current returns a meta entry in the layout of queue_enqueue.lua, converting one written before
-- ("<priority>|<seq>|<attempt>|<enqueued_us>": payload in the payload hash, last error and token
-- kept elsewhere, and lost).
local function current(m)
  if string.byte(m, 31) == 124 then
    return m
  end
  local p, s, a, e = string.match(m, '^(%d+)|(%d+)|(%d+)|(-?%d+)')
  return string.format('%010d|-------------------|x|', tonumber(a)) .. p .. '|' ..
    string.format('%016d', tonumber(s)) .. '|' .. e .. '|0|'
end

local promoted = 0
if redis.call('ZCARD', KEYS[6]) > 0 then
  local due = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', nows, 'LIMIT', '0', '100')
  promoted = #due
  if promoted > 0 then
    local metas = redis.call('HMGET', KEYS[1], unpack(due))
    local add = {}
    for k, id in ipairs(due) do
      local p, s = string.match(current(metas[k]), '^(%d+)|(%d+)|', 34)
      add[2 * k - 1] = p == '0' and '0' or '-' .. p
      add[2 * k] = '1' .. s .. ':' .. id
    end
    redis.call('ZADD', KEYS[5], unpack(add))
    redis.call('ZREM', KEYS[6], unpack(due))
    if promoted == 100 then
      for _ = 1, n do
        out[#out + 1] = 1
      end
      return out
    end
  end
end
for k = 1, n do
  if ARGV[i + 2 * k] == '1' then
    promoted = promoted + 1
  end
end

-- One caller takes the best job; several take as many of the best, in order.
local got = 0
if n == 1 then
  local top = redis.call('ZPOPMIN', KEYS[5])
  if #top > 0 then
    got = 1
    local id = string.sub(top[1], 19)
    local m = current(redis.call('HGET', KEYS[1], id))
    m = string.format('%010d|%019d', tonumber(string.sub(m, 1, 10)) + 1,
      redis.call('HINCRBY', KEYS[7], 'token', '1')) .. string.sub(m, 31)
    redis.call('HSET', KEYS[1], id, m)
    local deadline = string.format('%d', tonumber(nows) + tonumber(ARGV[i + 1]))
    redis.call('ZADD', KEYS[3], deadline, id)
    local payload = ''
    if string.byte(m, 32) == 120 then -- "x"
      payload = redis.call('HGET', KEYS[2], id) or ''
    end
    out[#out + 1] = {id, m, payload, deadline}
  end
else
  local top = redis.call('ZPOPMIN', KEYS[5], ARGV[i])
  got = #top / 2
  if got > 0 then
    local ids = {}
    for k = 1, got do
      ids[k] = string.sub(top[2 * k - 1], 19)
    end
    local metas = redis.call('HMGET', KEYS[1], unpack(ids))
    local last = redis.call('HINCRBY', KEYS[7], 'token', string.format('%d', got))
    local now = tonumber(nows)
    local set, fly, ext, deadlines = {}, {}, {}, {}
    for k, id in ipairs(ids) do
      local m = current(metas[k])
      m = string.format('%010d|%019d', tonumber(string.sub(m, 1, 10)) + 1, last - got + k) .. string.sub(m, 31)
      local lease = ARGV[i + 2 * k - 1]
      local deadline = deadlines[lease]
      if not deadline then -- callers mostly share a lease: one sum for all of them
        deadline = string.format('%d', now + tonumber(lease))
        deadlines[lease] = deadline
      end
      set[2 * k - 1], set[2 * k] = id, m
      fly[2 * k - 1], fly[2 * k] = deadline, id
      out[#out + 1] = {id, m, '', deadline}
      if string.byte(m, 32) == 120 then -- "x"
        ext[#ext + 1] = k
      end
    end
    redis.call('HSET', KEYS[1], unpack(set))
    redis.call('ZADD', KEYS[3], unpack(fly))
    if #ext > 0 then
      local want = {}
      for j, k in ipairs(ext) do
        want[j] = ids[k]
      end
      local payloads = redis.call('HMGET', KEYS[2], unpack(want))
      for j, k in ipairs(ext) do
        out[#out - got + k][3] = payloads[j] or ''
      end
    end
  end
end
for _ = got + 1, n do
  out[#out + 1] = {}
end

-- Jobs just promoted may be more than these callers take: wake another worker for them.
if promoted > 0 and redis.call('ZCARD', KEYS[5]) > 0 then
  if redis.call('LLEN', KEYS[8]) < 16 then
    redis.call('LPUSH', KEYS[8], '1')
  end
end
return out
