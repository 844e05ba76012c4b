-- queue_enqueue.lua: add jobs to a queue, each as a call of its own would (the concurrent enqueues
-- of one process combined into one call), or return the job an idempotency key already names.
--
-- KEYS[1] -> the ready set: score -priority, member <"0" reaped | "1"><seq, 16 digits>:<id>
-- KEYS[2] -> the meta hash: id -> the job, for every job held (ready, delayed, in flight or
--            dead): "<attempt, 10 digits>|<token, 19 digits, or 19 "-" unless in flight>|
--            <"i": the payload ends the entry, "x": it is in the payload hash>|<priority>|
--            <seq, 16 digits>|<enqueued_us>|<length of the last error>|<last error>[<payload>]"
-- KEYS[3] -> the payload hash: id -> the payload of a job whose entry does not hold it
-- KEYS[4] -> the delayed set: id scored by due time in µs
-- KEYS[5] -> the in-flight set: id scored by lease deadline in µs
-- KEYS[6] -> the counter hash: fields "seq", "token", "dead"
-- KEYS[7] -> the wake list that idle workers BLPOP: at most 16 markers, all "1"
-- KEYS[8] -> only for one job with an idempotency key: its string "<expires_us>:<id>"
-- ARGV[1] -> now in µs, or "0" to read Redis TIME
-- ARGV[2] -> n, how many jobs. One job ("1") takes the six arguments below, and two more with
--            KEYS[8]; several jobs (n >= 2, without KEYS[8]) take others, see "several" below.
-- ARGV[3] -> the job's id (the caller assigns one when the job has none)
-- ARGV[4] -> priority (0 to store.MaxPriority, validated by the caller), in decimal
-- ARGV[5] -> delay in µs, in decimal ("0": ready at once)
-- ARGV[6] -> MaxLen: the jobs (ready, delayed, in flight) the queue may hold
-- ARGV[7] -> the payload (MaxPayload is checked by the caller)
-- ARGV[8] -> "i" to keep the payload in the job's meta entry (a small one: it is copied whenever
--            the entry is rewritten), "x" to keep it in the payload hash
-- ARGV[9] -> only with KEYS[8]: the idempotency key's TTL in µs
-- ARGV[10] -> only with KEYS[8]: how long Redis keeps the key, in ms
-- several -> jobs whose payloads are all kept in their meta entries take, after ARGV[2]: MaxLen,
--            the same for every one of them (in ARGV[3]); n characters (in ARGV[4]), one a job,
--            "c" when the caller chose its id (it may be taken), "s" when the store assigned it
--            (a count and a random tag: new by construction, so it is not looked up); then four
--            arguments a job, the k-th's from ARGV[4k + 1]: its id, priority, delay and payload,
--            as for one job.
-- returns -> one job: its outcome: its id when it was added; {id} when the idempotency key named
--            a live job's id, and then nothing was added; an error reply "QUEUEFULL <held>" when
--            the queue held MaxLen jobs, or "DUPID" when a job with that id was held already,
--            and then nothing was added.
--            Several: n when every job was added; otherwise {outcome, ...}, one for each job in
--            order, as if each had been enqueued by a call of its own, one after another: 0
--            when it was added (the caller knows the id), else the error reply about it.

-- Numbers cost: every argument of redis.call is a string, and a number is read only when needed.
local enq = ARGV[1]
if enq == '0' then
  local t = redis.call('TIME')
  enq = t[1] .. string.sub('00000' .. t[2], -6)
end

if ARGV[2] == '1' then
  -- One job, the common case, without the tables that several need.
  if KEYS[8] then
    local v = redis.call('GET', KEYS[8])
    if v then
      local exp, id = string.match(v, '^(-?%d+):(.*)$')
      if exp and tonumber(exp) > tonumber(enq) then
        return {id}
      end
    end
  end

  -- The meta hash holds every job held and the dead ones besides: while it holds fewer than
  -- MaxLen, so does the queue, and the three sets need not be counted.
  local maxlen = tonumber(ARGV[6])
  if redis.call('HLEN', KEYS[2]) >= maxlen then
    local held = redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[4]) + redis.call('ZCARD', KEYS[5])
    if held >= maxlen then
      return redis.error_reply('QUEUEFULL ' .. string.format('%d', held))
    end
  end

  -- A number drawn for a job whose id turns out to be taken is skipped: order needs no gapless
  -- sequence.
  local s = string.format('%016d', redis.call('HINCRBY', KEYS[6], 'seq', '1'))
  local id, p, inline = ARGV[3], ARGV[4], ARGV[8] == 'i'
  local m = '0000000000|-------------------|' .. ARGV[8] .. '|' .. p .. '|' .. s .. '|' .. enq .. '|0|' ..
    (inline and ARGV[7] or '')
  if redis.call('HSETNX', KEYS[2], id, m) == 0 then
    return redis.error_reply('DUPID job id already in use')
  end
  if not inline then
    redis.call('HSET', KEYS[3], id, ARGV[7])
  end
  if ARGV[5] ~= '0' then
    redis.call('ZADD', KEYS[4], string.format('%d', tonumber(enq) + tonumber(ARGV[5])), id)
  else
    redis.call('ZADD', KEYS[1], p == '0' and '0' or '-' .. p, '1' .. s .. ':' .. id)
  end

  if KEYS[8] then
    redis.call('SET', KEYS[8], string.format('%d:', tonumber(enq) + tonumber(ARGV[9])) .. id, 'PX', ARGV[10])
  end

  -- One marker wakes one idle worker; markers are alike, so a full list needs no more.
  if redis.call('LLEN', KEYS[7]) < 16 then
    redis.call('LPUSH', KEYS[7], '1')
  end
  return id
end

-- Several jobs, each as the one above, one after another, but with one command of each kind for
-- all of them.
local n, maxlen, chosen = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
-- taken holds the ids in use: those of the caller's choosing that the meta hash holds, then each
-- such id as its job is added (a later job with the same id is a duplicate of that one).
local taken, check = {}, {}
for k = 1, n do
  if string.byte(chosen, k) == 99 then -- "c"
    check[#check + 1] = ARGV[4 * k + 1]
  end
end
if #check > 0 then
  local got = redis.call('HMGET', KEYS[2], unpack(check))
  for k, id in ipairs(check) do
    if got[k] then
      taken[id] = true
    end
  end
end
-- Each job added counts against the bound of the jobs after it, as it would have.
local hlen = redis.call('HLEN', KEYS[2])
local held
local seq = redis.call('HINCRBY', KEYS[6], 'seq', ARGV[2]) - n
local out, added, entries, ready, delayed = {}, 0, {}, {}, {}
local nr, nd = 0, 0 -- the lengths of ready and delayed
for k = 1, n do
  local j = 4 * k + 1
  local id, p, delay = ARGV[j], ARGV[j + 1], ARGV[j + 2]
  if not held and hlen + added >= maxlen then
    held = redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[4]) + redis.call('ZCARD', KEYS[5])
  end
  if held and held + added >= maxlen then
    out[k] = redis.error_reply('QUEUEFULL ' .. string.format('%d', held + added))
  elseif taken[id] then
    out[k] = redis.error_reply('DUPID job id already in use')
  else
    if string.byte(chosen, k) == 99 then
      taken[id] = true
    end
    local s = string.format('%016d', seq + k)
    added = added + 1
    entries[2 * added - 1] = id
    entries[2 * added] = '0000000000|-------------------|i|' .. p .. '|' .. s .. '|' .. enq .. '|0|' ..
      ARGV[j + 3]
    if delay ~= '0' then
      delayed[nd + 1], delayed[nd + 2], nd = string.format('%d', tonumber(enq) + tonumber(delay)), id, nd + 2
    else
      ready[nr + 1], ready[nr + 2], nr = p == '0' and '0' or '-' .. p, '1' .. s .. ':' .. id, nr + 2
    end
    out[k] = 0
  end
end
if added == 0 then
  return out
end
redis.call('HSET', KEYS[2], unpack(entries))
if nd > 0 then
  redis.call('ZADD', KEYS[4], unpack(delayed))
end
if nr > 0 then
  redis.call('ZADD', KEYS[1], unpack(ready))
end
-- One marker for each job added, up to 16 in the list.
local want = math.min(16 - redis.call('LLEN', KEYS[7]), added)
if want > 0 then
  local marks = {}
  for k = 1, want do
    marks[k] = '1'
  end
  redis.call('LPUSH', KEYS[7], unpack(marks))
end
if added == n then
  return n
end
return out
