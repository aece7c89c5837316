/**
 * The Lua script shared by the Redis and Upstash stores. Every store call is one operation of
 * it; the store sends the operations issued together (in one turn of the event loop) as one
 * EVALSHA, which runs them in order, atomically, in one round trip. Record fields are kept in
 * a hash whose values are JSON; events in a sorted set scored by `seq`. Operations answer
 * JSON text built from the stored JSON, so numbers never go through Lua's number formatting.
 *
 * Call: KEYS are the operations' keys, one operation after the other. ARGV: operation count,
 * then per operation its code, key count and argument count, then its arguments. Reply: one
 * string per operation, `=` and its JSON answer, or `!` and an error message (an operation
 * that fails does not stop the others).
 */

/** Operation codes (indexes into the script's OPS table). */
export const OP = {
  create: 1,
  append: 2,
  get: 3,
  read: 4,
  list: 5,
  addPending: 6,
  claim: 7,
  increment: 8,
  renewLease: 9,
  leaseAlive: 10,
  takeOver: 11,
  appendJournal: 12,
  readJournal: 13,
  publish: 14,
} as const;

export type OpCode = (typeof OP)[keyof typeof OP];

export const BATCH = `
local function addAll(cmd, key, list)
  local i = 1
  while i <= #list do
    local j = math.min(i + 999, #list)
    redis.call(cmd, key, unpack(list, i, j))
    i = j + 1
  end
end
local function recordJson(flat)
  if #flat == 0 then return 'null' end
  local parts = {}
  for i = 1, #flat, 2 do parts[#parts + 1] = cjson.encode(flat[i]) .. ':' .. flat[i + 1] end
  return '{' .. table.concat(parts, ',') .. '}'
end
-- Adds the (seq, event json) pairs of A from index 'from' and trims the oldest events past
-- maxEvents; answers the highest seq added (nil when none). A session's seqs start at 1, so
-- it holds no more events than its highest seq (the highest added, or 'known' before): no
-- trimming is needed until that passes maxEvents.
local function addEvents(key, A, from, maxEvents, known)
  local z = {}
  local top, low = nil, nil
  for i = from, #A, 2 do
    z[#z + 1] = A[i]
    z[#z + 1] = A[i + 1]
    local seq = tonumber(A[i])
    if top == nil or seq > top then top = seq end
    if low == nil or seq < low then low = seq end
  end
  if #z == 0 then return nil end
  addAll('ZADD', key, z)
  if top > maxEvents or known > maxEvents or low < 1 then redis.call('ZREMRANGEBYRANK', key, 0, -maxEvents - 1) end
  return top
end
-- Appends the events and applies the patch (A[countAt] fields, (field, json or '' to
-- delete)..., then (seq, event json)...), the record's expiresAt and lastSeq given. The
-- fields, lastSeq included, are written with one HSET.
local function appendAndPatch(record, events, maxEvents, A, countAt, exp, lastSeq)
  local n = tonumber(A[countAt])
  local set, del = {}, {}
  local current = tonumber(lastSeq or '0') or 0
  local top = addEvents(events, A, countAt + 1 + 2 * n, maxEvents, current)
  if top ~= nil then
    redis.call('PEXPIREAT', events, exp)
    if top > current then
      set[1] = 'lastSeq'
      set[2] = string.format('%d', top)
    end
  end
  for i = countAt + 1, countAt + 2 * n, 2 do
    if A[i + 1] == '' then
      del[#del + 1] = A[i]
    else
      set[#set + 1] = A[i]
      set[#set + 1] = A[i + 1]
    end
  end
  if #set > 0 then redis.call('HSET', record, unpack(set)) end
  if #del > 0 then redis.call('HDEL', record, unpack(del)) end
end

local OPS = {}

-- KEYS: record, events, pending, tenant index, journal (emptied: a new session starts a new
-- one). ARGV: id, expiresAt, now ('' to skip pruning the index), maxEvents, field count,
-- (field, json)..., (seq, event json)... The index expires with its latest session.
OPS[${OP.create}] = function(K, A)
  local exp = A[2]
  redis.call('DEL', K[1], K[2], K[3], K[5])
  local n = tonumber(A[5])
  local fields = {}
  for i = 6, 5 + 2 * n do fields[#fields + 1] = A[i] end
  addAll('HSET', K[1], fields)
  redis.call('PEXPIREAT', K[1], exp)
  if addEvents(K[2], A, 6 + 2 * n, tonumber(A[4]), 0) ~= nil then
    redis.call('PEXPIREAT', K[2], exp)
  end
  if A[3] ~= '' then redis.call('ZREMRANGEBYSCORE', K[4], '-inf', A[3]) end
  redis.call('ZADD', K[4], exp, A[1])
  local last = redis.call('ZRANGE', K[4], -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIREAT', K[4], last[2]) end
  return '1'
end

-- KEYS: record, events. ARGV: maxEvents, patch count, (field, json or '' to delete)...,
-- (seq, event json)... Does nothing when the record is gone.
OPS[${OP.append}] = function(K, A)
  local h = redis.call('HMGET', K[1], 'expiresAt', 'lastSeq')
  if not h[1] then return '0' end
  appendAndPatch(K[1], K[2], tonumber(A[1]), A, 2, h[1], h[2])
  return '1'
end

-- KEYS: record. The record as JSON, or null.
OPS[${OP.get}] = function(K, A)
  return recordJson(redis.call('HGETALL', K[1]))
end

-- KEYS: events. ARGV: afterSeq. A JSON array.
OPS[${OP.read}] = function(K, A)
  return '[' .. table.concat(redis.call('ZRANGEBYSCORE', K[1], '(' .. A[1], '+inf'), ',') .. ']'
end

-- KEYS: tenant index. ARGV: now, record key prefix. Prunes expired and vanished entries and
-- answers the live records as a JSON array.
OPS[${OP.list}] = function(K, A)
  redis.call('ZREMRANGEBYSCORE', K[1], '-inf', A[1])
  local ids = redis.call('ZRANGE', K[1], 0, -1)
  local out = {}
  for _, id in ipairs(ids) do
    local flat = redis.call('HGETALL', A[2] .. id)
    if #flat > 0 then out[#out + 1] = recordJson(flat) else redis.call('ZREM', K[1], id) end
  end
  return '[' .. table.concat(out, ',') .. ']'
end

-- KEYS: record, pending. ARGV: callId.
OPS[${OP.addPending}] = function(K, A)
  local exp = redis.call('HGET', K[1], 'expiresAt')
  if not exp then return '0' end
  redis.call('SADD', K[2], A[1])
  redis.call('PEXPIREAT', K[2], exp)
  return '1'
end

-- KEYS: pending. ARGV: callId. 1 for the one caller that took it.
OPS[${OP.claim}] = function(K, A)
  return string.format('%d', redis.call('SREM', K[1], A[1]))
end

-- KEYS: counter. ARGV: windowMs. [count, ms left in the window].
OPS[${OP.increment}] = function(K, A)
  local count = redis.call('INCR', K[1])
  local ttl = redis.call('PTTL', K[1])
  if ttl < 0 then
    redis.call('PEXPIRE', K[1], A[1])
    ttl = tonumber(A[1])
  end
  return string.format('[%d,%d]', count, ttl)
end

-- KEYS: lease. ARGV: value, ttl ms.
OPS[${OP.renewLease}] = function(K, A)
  redis.call('SET', K[1], A[1], 'PX', A[2])
  return '1'
end

-- KEYS: lease. 1 while the lease is alive.
OPS[${OP.leaseAlive}] = function(K, A)
  return string.format('%d', redis.call('EXISTS', K[1]))
end

-- KEYS: record, events, owner's lease. ARGV: owner (JSON), lastSeq, ignoreLease ('1'/'0'),
-- maxEvents, patch count, (field, json or '')..., (seq, event json)... Appends and patches
-- only while the record is pending/running, owned by that owner at that lastSeq, and the
-- lease is gone; 1 when it did.
OPS[${OP.takeOver}] = function(K, A)
  local h = redis.call('HMGET', K[1], 'status', 'owner', 'lastSeq', 'expiresAt')
  if not h[1] then return '0' end
  if h[1] ~= '"running"' and h[1] ~= '"pending"' then return '0' end
  if h[2] ~= A[1] then return '0' end
  if (tonumber(h[3] or '0') or 0) ~= tonumber(A[2]) then return '0' end
  if A[3] ~= '1' and redis.call('EXISTS', K[3]) == 1 then return '0' end
  appendAndPatch(K[1], K[2], tonumber(A[4]), A, 5, h[4], h[3])
  return '1'
end

-- KEYS: journal. ARGV: expiresAt, entry json...
OPS[${OP.appendJournal}] = function(K, A)
  local entries = {}
  for i = 2, #A do entries[#entries + 1] = A[i] end
  addAll('RPUSH', K[1], entries)
  redis.call('PEXPIREAT', K[1], A[1])
  return '1'
end

-- KEYS: journal. A JSON array of the entries.
OPS[${OP.readJournal}] = function(K, A)
  return '[' .. table.concat(redis.call('LRANGE', K[1], 0, -1), ',') .. ']'
end

-- ARGV: channel, message.
OPS[${OP.publish}] = function(K, A)
  redis.call('PUBLISH', A[1], A[2])
  return '1'
end

local out = {}
local ki = 0
local ai = 2
for o = 1, tonumber(ARGV[1]) do
  local code, nk, na = tonumber(ARGV[ai]), tonumber(ARGV[ai + 1]), tonumber(ARGV[ai + 2])
  ai = ai + 3
  local K, A = {}, {}
  for i = 1, nk do K[i] = KEYS[ki + i] end
  for i = 1, na do A[i] = ARGV[ai + i - 1] end
  ki = ki + nk
  ai = ai + na
  local ok, res = pcall(OPS[code], K, A)
  if ok then
    out[o] = '=' .. res
  elseif type(res) == 'table' and res.err then
    out[o] = '!' .. res.err
  else
    out[o] = '!' .. tostring(res)
  end
end
return out
`;
