-- queue_enqueue.lua: add a job to a queue, or return the job an idempotency key already names.
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
-- KEYS[8] -> only when the job has an idempotency key: its string "<expires_us>:<id>"
-- ARGV[1] -> now in µs, or "0" to read Redis TIME
-- ARGV[2] -> the job's id (the caller assigns one when the job has none)
-- ARGV[3] -> priority (0 to store.MaxPriority, validated by the caller), in decimal
-- ARGV[4] -> delay in µs, in decimal ("0": ready at once)
-- ARGV[5] -> MaxLen: the jobs (ready, delayed, in flight) the queue may hold
-- ARGV[6] -> the payload (MaxPayload is checked by the caller)
-- ARGV[7] -> "i" to keep the payload in the job's meta entry (a small one: it is copied whenever
--            the entry is rewritten), "x" to keep it in the payload hash
-- ARGV[8] -> only with KEYS[8]: the idempotency key's TTL in µs
-- ARGV[9] -> only with KEYS[8]: how long Redis keeps the key, in ms
-- returns -> the job's id when it was added; {id} when the idempotency key named a live job's
--            id, and then nothing was added.
--            Errors: "QUEUEFULL <held>" when the queue holds MaxLen jobs; "DUPID <id>" when a
--            job with that id is held already.

-- Numbers cost: every argument of redis.call is a string, and a number is read only when needed.
local enq = ARGV[1]
if enq == '0' then
  local t = redis.call('TIME')
  enq = t[1] .. string.sub('00000' .. t[2], -6)
end

if KEYS[8] then
  local v = redis.call('GET', KEYS[8])
  if v then
    local exp, id = string.match(v, '^(-?%d+):(.*)$')
    if exp and tonumber(exp) > tonumber(enq) then
      return {id}
    end
  end
end

-- The meta hash holds every job held and the dead ones besides: while it holds fewer than MaxLen,
-- so does the queue, and the three sets need not be counted.
local maxlen = tonumber(ARGV[5])
if redis.call('HLEN', KEYS[2]) >= maxlen then
  local held = redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[4]) + redis.call('ZCARD', KEYS[5])
  if held >= maxlen then
    return redis.error_reply('QUEUEFULL ' .. string.format('%d', held))
  end
end

-- A number drawn for a job whose id turns out to be taken is skipped: order needs no gapless
-- sequence.
local s = string.format('%016d', redis.call('HINCRBY', KEYS[6], 'seq', '1'))
local id, p, inline = ARGV[2], ARGV[3], ARGV[7] == 'i'
local m = '0000000000|-------------------|' .. ARGV[7] .. '|' .. p .. '|' .. s .. '|' .. enq .. '|0|' ..
  (inline and ARGV[6] or '')
if redis.call('HSETNX', KEYS[2], id, m) == 0 then
  return redis.error_reply('DUPID job id already in use')
end
if not inline then
  redis.call('HSET', KEYS[3], id, ARGV[6])
end
if ARGV[4] ~= '0' then
  redis.call('ZADD', KEYS[4], string.format('%d', tonumber(enq) + tonumber(ARGV[4])), id)
else
  redis.call('ZADD', KEYS[1], p == '0' and '0' or '-' .. p, '1' .. s .. ':' .. id)
end

if KEYS[8] then
  redis.call('SET', KEYS[8], string.format('%d:', tonumber(enq) + tonumber(ARGV[8])) .. id, 'PX', ARGV[9])
end

-- One marker wakes one idle worker; markers are alike, so a full list needs no more.
if redis.call('LLEN', KEYS[7]) < 16 then
  redis.call('LPUSH', KEYS[7], '1')
end
return id
