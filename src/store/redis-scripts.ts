/**
 * Lua scripts shared by the Redis and Upstash stores: each store method is one script, so it
 * is atomic and costs one round trip. Record fields are kept in a hash whose values are JSON;
 * events in a sorted set scored by `seq`. Scripts return JSON text built from the stored JSON,
 * so numbers never go through Lua's number formatting.
 */

/** ZADD/HSET in chunks: Lua's `unpack` has a small limit on the number of values. */
const helpers = `
local function addAll(cmd, key, list)
  local i = 1
  while i <= #list do
    local j = math.min(i + 999, #list)
    redis.call(cmd, key, unpack(list, i, j))
    i = j + 1
  end
end
local function recordJson(flat)
  if #flat == 0 then return false end
  local parts = {}
  for i = 1, #flat, 2 do parts[#parts + 1] = cjson.encode(flat[i]) .. ':' .. flat[i + 1] end
  return '{' .. table.concat(parts, ',') .. '}'
end
local function addEvents(key, argv, from, maxEvents)
  local z = {}
  local top = nil
  for i = from, #argv, 2 do
    z[#z + 1] = argv[i]
    z[#z + 1] = argv[i + 1]
    local seq = tonumber(argv[i])
    if top == nil or seq > top then top = seq end
  end
  if #z == 0 then return nil end
  addAll('ZADD', key, z)
  redis.call('ZREMRANGEBYRANK', key, 0, -maxEvents - 1)
  return top
end
local function appendAndPatch(record, events, maxEvents, argv, countAt)
  local n = tonumber(argv[countAt])
  local top = addEvents(events, argv, countAt + 1 + 2 * n, maxEvents)
  if top ~= nil then
    redis.call('PEXPIREAT', events, redis.call('HGET', record, 'expiresAt'))
    local current = tonumber(redis.call('HGET', record, 'lastSeq') or '0') or 0
    if top > current then redis.call('HSET', record, 'lastSeq', string.format('%d', top)) end
  end
  for i = countAt + 1, countAt + 2 * n, 2 do
    if argv[i + 1] == '' then
      redis.call('HDEL', record, argv[i])
    else
      redis.call('HSET', record, argv[i], argv[i + 1])
    end
  end
end
`;

/**
 * KEYS: record, events, pending, tenant index.
 * ARGV: id, expiresAt, now, maxEvents, field count, (field, json)..., (seq, event json)...
 */
export const CREATE_SESSION = `${helpers}
local exp = ARGV[2]
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
local n = tonumber(ARGV[5])
local fields = {}
for i = 6, 5 + 2 * n do fields[#fields + 1] = ARGV[i] end
addAll('HSET', KEYS[1], fields)
redis.call('PEXPIREAT', KEYS[1], exp)
if addEvents(KEYS[2], ARGV, 6 + 2 * n, tonumber(ARGV[4])) ~= nil then
  redis.call('PEXPIREAT', KEYS[2], exp)
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[3])
redis.call('ZADD', KEYS[4], exp, ARGV[1])
local last = redis.call('ZRANGE', KEYS[4], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[4], last[2]) end
return 1
`;

/**
 * KEYS: record, events. ARGV: maxEvents, patch count, (field, json or '' to delete)...,
 * (seq, event json)... Does nothing when the record is gone.
 */
export const APPEND_EVENTS = `${helpers}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
appendAndPatch(KEYS[1], KEYS[2], tonumber(ARGV[1]), ARGV, 2)
return 1
`;

/** KEYS: record. Returns the record as JSON, or nil. */
export const GET_SESSION = `${helpers}
return recordJson(redis.call('HGETALL', KEYS[1]))
`;

/** KEYS: events. ARGV: afterSeq. Returns a JSON array. */
export const READ_EVENTS = `
local events = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
return '[' .. table.concat(events, ',') .. ']'
`;

/**
 * KEYS: tenant index. ARGV: now, record key prefix. Prunes expired and vanished entries and
 * returns the live records as a JSON array.
 */
export const LIST_SESSIONS = `${helpers}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local out = {}
for _, id in ipairs(ids) do
  local json = recordJson(redis.call('HGETALL', ARGV[2] .. id))
  if json then out[#out + 1] = json else redis.call('ZREM', KEYS[1], id) end
end
return '[' .. table.concat(out, ',') .. ']'
`;

/** KEYS: record, pending. ARGV: callId. */
export const ADD_PENDING_CALL = `
local exp = redis.call('HGET', KEYS[1], 'expiresAt')
if not exp then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIREAT', KEYS[2], exp)
return 1
`;

/** KEYS: journal. ARGV: expiresAt, entry json... */
export const APPEND_JOURNAL = `
for i = 2, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
`;

/** KEYS: journal. Returns a JSON array of the entries. */
export const READ_JOURNAL = `
return '[' .. table.concat(redis.call('LRANGE', KEYS[1], 0, -1), ',') .. ']'
`;

/** KEYS: pending. ARGV: callId. 1 for the one caller that took it. */
export const CLAIM_PENDING_CALL = `
return redis.call('SREM', KEYS[1], ARGV[1])
`;

/** KEYS: counter. ARGV: windowMs. Returns { count, ms left in the window }. */
export const INCREMENT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return { count, ttl }
`;

/** KEYS: lease. ARGV: value, ttl ms. */
export const RENEW_LEASE = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

/** KEYS: lease. 1 while the lease is alive. */
export const LEASE_ALIVE = `
return redis.call('EXISTS', KEYS[1])
`;

/**
 * KEYS: record, events, owner's lease. ARGV: owner (JSON), lastSeq, ignoreLease ('1'/'0'),
 * maxEvents, patch count, (field, json or '')..., (seq, event json)... Appends and patches
 * only while the record is pending/running, owned by that owner at that lastSeq, and the
 * lease is gone; 1 when it did.
 */
export const TAKE_OVER_SESSION = `${helpers}
local h = redis.call('HMGET', KEYS[1], 'status', 'owner', 'lastSeq')
if not h[1] then return 0 end
if h[1] ~= '"running"' and h[1] ~= '"pending"' then return 0 end
if h[2] ~= ARGV[1] then return 0 end
if (tonumber(h[3] or '0') or 0) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] ~= '1' and redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
appendAndPatch(KEYS[1], KEYS[2], tonumber(ARGV[4]), ARGV, 5)
return 1
`;
