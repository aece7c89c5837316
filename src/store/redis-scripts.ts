/**
 * The Lua script shared by the Redis and Upstash stores. Every store call is one operation of
 * it; the store sends the operations issued together (in one turn of the event loop) as one
 * EVALSHA, which runs them in order, atomically, in one round trip. Record fields are kept in
 * a hash whose values are JSON; events in a sorted set scored by `seq`. Operations answer
 * JSON text built from the stored JSON, so numbers never go through Lua's number formatting.
 *
 * Call: KEYS are the operations' keys, one operation after the other. ARGV: operation count,
 * the caller's clock (epoch ms, used where the server's is not available), then per operation
 * its code, key count and argument count, then its arguments. Reply: one
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
  renewSession: 15,
  restore: 16,
  index: 17,
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

-- The server's clock in epoch ms (the same for every process that asks); the caller's clock
-- (ARGV[2]) where a server refuses TIME in scripts.
local function nowMs()
  local ok, t = pcall(redis.call, 'TIME')
  if ok and type(t) == 'table' then return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) end
  return tonumber(ARGV[2])
end
-- The fence check of a write: nil when it holds (or when the caller gives none: owner ''),
-- else 'missing' (no record) or 'lost' (another owner or epoch). owner is JSON as stored.
local function fence(record, owner, epoch)
  if owner == '' then return nil end
  local h = redis.call('HMGET', record, 'owner', 'epoch')
  if not h[1] then return 'missing' end
  if h[1] ~= owner or (h[2] or '1') ~= epoch then return 'lost' end
  return nil
end

local OPS = {}

-- KEYS: record, events, pending, journal (emptied: a new session starts a new one). ARGV:
-- expiresAt, maxEvents, field count, (field, json)..., (seq, event json)... The record gets
-- renewedAt (the server's clock).
OPS[${OP.create}] = function(K, A)
  local exp = A[1]
  redis.call('DEL', K[1], K[2], K[3], K[4])
  local n = tonumber(A[3])
  local fields = {}
  for i = 4, 3 + 2 * n do fields[#fields + 1] = A[i] end
  fields[#fields + 1] = 'renewedAt'
  fields[#fields + 1] = string.format('%d', nowMs())
  addAll('HSET', K[1], fields)
  redis.call('PEXPIREAT', K[1], exp)
  if addEvents(K[2], A, 4 + 2 * n, tonumber(A[2]), 0) ~= nil then
    redis.call('PEXPIREAT', K[2], exp)
  end
  return '1'
end

-- KEYS: tenant index. ARGV: id, expiresAt, now ('' to skip pruning the index). The index
-- expires with its latest session.
OPS[${OP.index}] = function(K, A)
  if A[3] ~= '' then redis.call('ZREMRANGEBYSCORE', K[1], '-inf', A[3]) end
  redis.call('ZADD', K[1], A[2], A[1])
  local last = redis.call('ZRANGE', K[1], -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIREAT', K[1], last[2]) end
  return '1'
end

-- KEYS: record, events, channel. ARGV: maxEvents, owner (JSON, '' for no fence), epoch,
-- publish command ('' to publish nothing), message, patch count, (field, json or '' to
-- delete)..., (seq, event json)... Does nothing when the record is gone ('0', or "missing"
-- with a fence) or the fence does not hold ("lost"); publishes the message once stored.
OPS[${OP.append}] = function(K, A)
  local f = fence(K[1], A[2], A[3])
  if f then return '"' .. f .. '"' end
  local h = redis.call('HMGET', K[1], 'expiresAt', 'lastSeq')
  if not h[1] then return '0' end
  appendAndPatch(K[1], K[2], tonumber(A[1]), A, 6, h[1], h[2])
  if A[4] ~= '' then redis.call(A[4], K[3], A[5]) end
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

-- KEYS: tenant index. ARGV: now, record key prefix and suffix ('' both on a cluster). Prunes
-- expired entries and answers the live records as a JSON array, or on a cluster (where the
-- records live in other slots) the ids, whose records are read apart.
OPS[${OP.list}] = function(K, A)
  redis.call('ZREMRANGEBYSCORE', K[1], '-inf', A[1])
  local ids = redis.call('ZRANGE', K[1], 0, -1)
  local out = {}
  for _, id in ipairs(ids) do
    if A[2] == '' then
      out[#out + 1] = cjson.encode(id)
    else
      local flat = redis.call('HGETALL', A[2] .. id .. A[3])
      if #flat > 0 then out[#out + 1] = recordJson(flat) else redis.call('ZREM', K[1], id) end
    end
  end
  return '[' .. table.concat(out, ',') .. ']'
end

-- KEYS: record, pending. ARGV: callId, owner (JSON or ''), epoch.
OPS[${OP.addPending}] = function(K, A)
  local f = fence(K[1], A[2], A[3])
  if f then return '"' .. f .. '"' end
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

-- KEYS: record, events, owner's lease (left out on a cluster). ARGV: owner (JSON), lastSeq, ignoreLease ('1'/'0'),
-- maxEvents, leaseMs, patch count, (field, json or '')..., (seq, event json)... Appends and
-- patches only while the record is pending/running, owned by that owner at that lastSeq,
-- the lease is gone and the owner has not renewed the record for leaseMs (server clock);
-- the epoch goes up by one and renewedAt is now. 1 when it did.
OPS[${OP.takeOver}] = function(K, A)
  local h = redis.call('HMGET', K[1], 'status', 'owner', 'lastSeq', 'expiresAt', 'epoch', 'renewedAt')
  if not h[1] then return '0' end
  if h[1] ~= '"running"' and h[1] ~= '"pending"' then return '0' end
  if h[2] ~= A[1] then return '0' end
  if (tonumber(h[3] or '0') or 0) ~= tonumber(A[2]) then return '0' end
  local now = nowMs()
  if A[3] ~= '1' then
    if K[3] and redis.call('EXISTS', K[3]) == 1 then return '0' end
    if now - (tonumber(h[6] or '0') or 0) < tonumber(A[5]) then return '0' end
  end
  appendAndPatch(K[1], K[2], tonumber(A[4]), A, 6, h[4], h[3])
  redis.call('HSET', K[1], 'epoch', string.format('%d', (tonumber(h[5] or '1') or 1) + 1), 'renewedAt', string.format('%d', now))
  return '1'
end

-- KEYS: record. ARGV: owner (JSON), epoch. Renews the owner's hold (renewedAt) while the
-- fence holds; answers "ok", "missing" or "lost".
OPS[${OP.renewSession}] = function(K, A)
  local f = fence(K[1], A[1], A[2])
  if f then return '"' .. f .. '"' end
  redis.call('HSET', K[1], 'renewedAt', string.format('%d', nowMs()))
  return '"ok"'
end

-- KEYS: record, events, pending, journal, channel. ARGV: owner (JSON), epoch, expiresAt,
-- maxEvents, publish command, field count, (field, json)..., journal count, entry json...,
-- pending count, callId..., (seq, event json)... Writes the session back: the record when
-- it is gone, the events it lacks, the journal when it holds fewer entries, the pending
-- calls; "lost" (and nothing written) when another owner holds it. Wakes the readers.
OPS[${OP.restore}] = function(K, A)
  local f = fence(K[1], A[1], A[2])
  if f == 'lost' then return '"lost"' end
  local exp = A[3]
  local i = 6
  local n = tonumber(A[i])
  if f == 'missing' then
    local fields = {}
    for j = i + 1, i + 2 * n do fields[#fields + 1] = A[j] end
    addAll('HSET', K[1], fields)
  end
  i = i + 2 * n + 1
  redis.call('HSET', K[1], 'renewedAt', string.format('%d', nowMs()))
  redis.call('PEXPIREAT', K[1], exp)
  local nj = tonumber(A[i])
  if redis.call('LLEN', K[4]) < nj then
    redis.call('DEL', K[4])
    local entries = {}
    for j = i + 1, i + nj do entries[#entries + 1] = A[j] end
    addAll('RPUSH', K[4], entries)
    redis.call('PEXPIREAT', K[4], exp)
  end
  i = i + nj + 1
  local np = tonumber(A[i])
  if np > 0 then
    local calls = {}
    for j = i + 1, i + np do calls[#calls + 1] = A[j] end
    addAll('SADD', K[3], calls)
    redis.call('PEXPIREAT', K[3], exp)
  end
  i = i + np + 1
  local h = redis.call('HMGET', K[1], 'lastSeq')
  local top = addEvents(K[2], A, i, tonumber(A[4]), tonumber(h[1] or '0') or 0)
  if top ~= nil then
    redis.call('PEXPIREAT', K[2], exp)
    if top > (tonumber(h[1] or '0') or 0) then redis.call('HSET', K[1], 'lastSeq', string.format('%d', top)) end
  end
  if A[5] ~= '' then redis.call(A[5], K[5], '[]') end
  return '"ok"'
end

-- KEYS: journal, record. ARGV: expiresAt, owner (JSON or ''), epoch, entry json...
OPS[${OP.appendJournal}] = function(K, A)
  local f = fence(K[2], A[2], A[3])
  if f then return '"' .. f .. '"' end
  local entries = {}
  for i = 4, #A do entries[#entries + 1] = A[i] end
  addAll('RPUSH', K[1], entries)
  redis.call('PEXPIREAT', K[1], A[1])
  return '1'
end

-- KEYS: journal. A JSON array of the entries.
OPS[${OP.readJournal}] = function(K, A)
  return '[' .. table.concat(redis.call('LRANGE', K[1], 0, -1), ',') .. ']'
end

-- KEYS: channel (declared, so that a cluster routes it to the channel's slot). ARGV: publish
-- command (PUBLISH, or SPUBLISH on a cluster), message. Answers how many subscribers got it.
OPS[${OP.publish}] = function(K, A)
  return string.format('%d', redis.call(A[1], K[1], A[2]))
end

local out = {}
local ki = 0
local ai = 3
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
