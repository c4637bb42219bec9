import { createHash } from 'node:crypto';

/**
 * Lua run at the start of both scripts: effects replication where Redis needs asking for it
 * (before Redis 5 a script that read TIME may write only after asking), the locals both use, and
 * `now`, Redis's time in ms. Redis 7+ says its version (6.2 has PXAT and KEEPTTL too, but only 7
 * says so); on 7+ `replicate_commands` is a no-op, so it is not called.
 */
const PRELUDE = `
local modern = redis.REDIS_VERSION_NUM ~= nil
if not modern and redis.replicate_commands then pcall(redis.replicate_commands) end
local call = redis.call
local pack = struct.pack
local unpackState = struct.unpack
local byte = string.byte
local t = call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * Lua, pasted where a token bucket's stored value `v` is read (the consume script's short path,
 * its general loop, the refund script), so the three read the state alike: packed or the old
 * text form into the caller's locals `lv, at, u, e` (level in token·ms, at, index alive until,
 * expires; `e` false when the text had none), then `level`, what is left of `lv` at `now` with
 * `limit` tokens a ms refilled. Pasted rather than a Lua function: a closure made per script
 * run and a call per key would cost Redis time on the lone decision's path.
 */
const TOKEN_BUCKET_STATE = `
if byte(v) == 1 then
  local _
  _, lv, at, u, e = unpackState('<Bdddd', v)
else
  lv, at, u, e = string.match(v, '^(%d+) (%d+) ?(%d*) ?(%d*)$')
  lv = tonumber(lv)
  at = tonumber(at)
  u = tonumber(u) or 0
  e = tonumber(e) or false
end
local elapsed = now - at
if elapsed < 0 then elapsed = 0 end
level = lv - elapsed * limit
if level < 0 then level = 0 end
`;

/**
 * Lua, pasted where a fixed window's stored value `v` is read (the consume script's general
 * loop and the refund script): packed or the old text form into the caller's locals `st, c, u`
 * (window start, count, index alive until).
 */
const FIXED_WINDOW_STATE = `
if byte(v) == 1 then
  local _
  _, st, c, u = unpackState('<Bddd', v)
else
  st, c, u = string.match(v, '^(%d+) (%d+) ?(%d*)$')
  st = tonumber(st)
  c = tonumber(c)
  u = tonumber(u) or 0
end
`;

/**
 * Lua, pasted where a charged token bucket is written (the consume script's short path and its
 * general loop): `nextLevel` at `now` with the index known alive until `alive`, kept until the bucket
 * is full again at least and a window from now at most: the key's TTL is kept (`KEEPTTL`) when
 * its expiry `e` (false for none) is late enough, else set to a window (`PXAT`; `PX` before
 * Redis 7).
 */
const WRITE_TOKEN_BUCKET = `
local keep = e and now + math.ceil(nextLevel / limit) <= e
if not keep then e = now + win end
local value = pack('<Bdddd', 1, nextLevel, now, alive, e)
if not modern then call('SET', key, value, 'PX', e - now)
elseif keep then call('SET', key, value, 'KEEPTTL')
else call('SET', key, value, 'PXAT', e) end
`;

/**
 * Lua, pasted where a charge must know until when the client's index set lives (the consume
 * script's short path and its general loop): its TTL is read and, when shorter than `window`
 * (the name of a Lua local holding the longest window in ms), set to twice that; `alive` is then
 * when it expires. The index must outlive every state key it lists.
 */
function extendIndex(window: string): string {
  return `
local pttl = call('PTTL', index)
if pttl < ${window} then
  call('PEXPIRE', index, 2 * ${window})
  pttl = 2 * ${window}
end
alive = now + pttl
`;
}

/**
 * The Lua script behind `RedisStore.consume`: every policy of a request in one
 * atomic step, on Redis's clock (`TIME`). It mirrors the pure arithmetic of
 * `src/stores/algorithms/*` line for line. One call may carry several
 * requests (decisions that were waiting at the same moment), decided in order.
 *
 * ARGV        the number of requests R and of policy sets S; per set: its
 *             number of policies n, then per policy: algorithm code (t|f|s),
 *             limit, window in ms; then per request: its set (1..S) and cost.
 *             (The requests of one call mostly share one set, so each policy
 *             is sent and parsed once per call, not once per request.)
 * KEYS        per request: the client's index set (its policy keys, for
 *             reset), then one state key per policy; all share the client's hash tag
 *
 * Returns a flat array, per request and policy: allowed (1|0), remaining,
 * resetMs, retryAfterMs; then Redis's time of the call in ms, which is every
 * charge's receipt (see REFUND_SCRIPT).
 *
 * A call with one request and one token-bucket policy (the default, and what a
 * lone decision sends) takes a short path through the same arithmetic and
 * writes, without the batch's bookkeeping: about 5 µs of Redis time instead of
 * 8-10 µs (own redis-server, INFO commandstats).
 *
 * State: token bucket (level in token·ms, at, until when the index is known
 * to live, when this key expires) and fixed window (start, count, until) are
 * packed binary (`struct.pack('<Bdddd', 1, …)`, a marker byte 1 then
 * little-endian doubles: unpacking costs a fraction of parsing decimal text);
 * a text value "level at until" / "start count until" written by an earlier
 * version is still read. Sliding window: a list of timestamps, newest first. Every key
 * has a TTL of at most its window: a fixed window key lives to the end of its
 * window, a sliding log as long as its newest entry counts, and a token bucket
 * key at least until its bucket is full again and at most a window after it
 * was last charged (a full bucket decides exactly like a missing one, and a key
 * that stays saves re-creating it and re-adding it to the index on the next
 * request). Writes keep the key's TTL (`KEEPTTL`) when it is long enough and
 * otherwise give an absolute expiry (`PXAT`), which Redis 7 replicates as sent
 * (a relative `PX` is rewritten per call); before Redis 7 they use `PX`.
 *
 * @example
 * await client.call('EVAL', CONSUME_SCRIPT, 2, 'p{k}', 'p{k}:x:t', 1, 1, 1, 't', 5, 60000, 1, 1);
 */
export const CONSUME_SCRIPT = `${PRELUDE}
-- One request with one token-bucket policy (the default, and a lone decision's usual call):
-- the same arithmetic and writes as the general loop below, without its bookkeeping.
if ARGV[1] == '1' and ARGV[3] == '1' and ARGV[4] == 't' then
  local index = KEYS[1]
  local key = KEYS[2]
  local limit = tonumber(ARGV[5])
  local win = tonumber(ARGV[6])
  local cost = tonumber(ARGV[8])
  local level = 0
  local fresh = true
  local u = false
  local e = false
  local v = call('GET', key)
  if v then
    fresh = false
    local lv, at
    ${TOKEN_BUCKET_STATE}
  end
  local capacity = limit * win
  local nextLevel = level + cost * win
  if nextLevel > capacity then
    local retry = win
    if cost <= limit then retry = math.ceil((nextLevel - capacity) / limit) end
    return {0, 0, math.ceil(level / limit), retry, now}
  end
  if cost > 0 then
    if fresh then call('SADD', index, key) end
    local alive = u
    if fresh or not u or u < now + win then
      ${extendIndex('win')}
    end
    ${WRITE_TOKEN_BUCKET}
  end
  return {1, math.floor((capacity - nextLevel) / win), math.ceil(nextLevel / limit), 0, now}
end
local out = {}
local o = 0
local k = 1
-- The policy sets, parsed once (few tables: each one is work for Redis's Lua GC). Policy p
-- (1-based) is pol[3p-2..3p]: code, limit, window. Set s is sets[3s-2..3s]: the index of its
-- first policy less one, its number of policies, its longest window.
local pol = {}
local sets = {}
local a = 3
local p = 0
for s = 1, tonumber(ARGV[2]) do
  local n = tonumber(ARGV[a])
  local longest = 0
  sets[3 * s - 2] = p
  sets[3 * s - 1] = n
  for _ = 1, n do
    p = p + 1
    local win = tonumber(ARGV[a + 3])
    pol[3 * p - 2] = ARGV[a + 1]
    pol[3 * p - 1] = tonumber(ARGV[a + 2])
    pol[3 * p] = win
    if win > longest then longest = win end
    a = a + 3
  end
  sets[3 * s] = longest
  a = a + 1
end
-- Per policy i of the current request, reused from one request to the next:
-- scr[6i-5..6i] = fresh, new level or count, now0, indexUntil, reset0, expires.
local scr = {}
for r = 1, tonumber(ARGV[1]) do
  local set = tonumber(ARGV[a])
  local cost = tonumber(ARGV[a + 1])
  local q = sets[3 * set - 2]
  local n = sets[3 * set - 1]
  local maxWindow = sets[3 * set]
  local index = KEYS[k]
  local admitted = true
  local first = o
  for i = 1, n do
    local key = KEYS[k + i]
    local b = 3 * (q + i)
    local algo = pol[b - 2]
    local limit = pol[b - 1]
    local win = pol[b]
    local j6 = 6 * i
    scr[j6 - 5] = false
    scr[j6 - 2] = false
    scr[j6] = false
    local allowed, remaining, reset, retry
    if algo == 't' then
      local level = 0
      local v = call('GET', key)
      if v then
        local lv, at, u, e
        ${TOKEN_BUCKET_STATE}
        scr[j6 - 2] = u
        scr[j6] = e
      else
        scr[j6 - 5] = true
      end
      local capacity = limit * win
      scr[j6 - 3] = math.floor((capacity - level) / win)
      scr[j6 - 1] = math.ceil(level / limit)
      local nextLevel = level + cost * win
      if nextLevel <= capacity then
        allowed = 1
        remaining = math.floor((capacity - nextLevel) / win)
        reset = math.ceil(nextLevel / limit)
        retry = 0
        scr[j6 - 4] = nextLevel
      else
        allowed = 0
        remaining = 0
        reset = math.ceil(level / limit)
        if cost > limit then retry = win else retry = math.ceil((nextLevel - capacity) / limit) end
      end
    elseif algo == 'f' then
      local start = now - (now % win)
      local count = 0
      local v = call('GET', key)
      if v then
        local st, c, u
        ${FIXED_WINDOW_STATE}
        if st == start then
          count = c
          -- Written in this window, so it already expires at the window's end.
          scr[j6] = true
        end
        scr[j6 - 2] = u
      else
        scr[j6 - 5] = true
      end
      reset = start + win - now
      scr[j6 - 3] = limit - count
      scr[j6 - 1] = reset
      if count + cost <= limit then
        allowed = 1
        remaining = limit - count - cost
        retry = 0
        scr[j6 - 4] = count + cost
      else
        allowed = 0
        remaining = 0
        if cost > limit then retry = win else retry = reset end
      end
    else
      local cutoff = now - win
      while true do
        local last = call('LINDEX', key, -1)
        if last and tonumber(last) <= cutoff then call('RPOP', key) else break end
      end
      local live = call('LLEN', key)
      if live == 0 then scr[j6 - 5] = true end
      local newest = 0
      if live > 0 then newest = tonumber(call('LINDEX', key, 0)) end
      scr[j6 - 3] = limit - live
      if live > 0 then scr[j6 - 1] = newest + win - now else scr[j6 - 1] = 0 end
      if live + cost <= limit then
        allowed = 1
        remaining = limit - live - cost
        if cost > 0 then reset = win elseif live > 0 then reset = newest + win - now else reset = 0 end
        retry = 0
      else
        allowed = 0
        remaining = 0
        reset = newest + win - now
        if cost > limit then retry = win
        else retry = tonumber(call('LINDEX', key, limit - cost)) + win - now end
      end
    end
    if allowed == 0 then admitted = false end
    out[o + 1] = allowed
    out[o + 2] = remaining
    out[o + 3] = reset
    out[o + 4] = retry
    o = o + 4
  end
  if not admitted then
    -- Nothing is charged: the policies that would admit report what is left now.
    for i = 1, n do
      local at = first + (i - 1) * 4
      if out[at + 1] == 1 then
        out[at + 2] = scr[6 * i - 3]
        out[at + 3] = scr[6 * i - 1]
      end
    end
  elseif cost > 0 then
    -- The index must outlive every state key it lists. Token bucket and fixed window state
    -- remembers until when the index is known to live, so its TTL is only checked when that
    -- moment comes closer than a window (or for a new key, or a sliding log).
    for i = 1, n do
      if scr[6 * i - 5] then call('SADD', index, KEYS[k + i]) end
    end
    local alive = nil
    for i = 1, n do
      local known = scr[6 * i - 2]
      local b = 3 * (q + i)
      if pol[b - 2] == 's' or scr[6 * i - 5] or not known or known < now + pol[b] then
        alive = nil
        break
      end
      if alive == nil or known < alive then alive = known end
    end
    if alive == nil then
      ${extendIndex('maxWindow')}
    end
    for i = 1, n do
      local key = KEYS[k + i]
      local b = 3 * (q + i)
      local algo = pol[b - 2]
      local limit = pol[b - 1]
      local win = pol[b]
      local j6 = 6 * i
      if algo == 't' then
        local nextLevel = scr[j6 - 4]
        local e = scr[j6]
        ${WRITE_TOKEN_BUCKET}
      elseif algo == 'f' then
        local start = now - (now % win)
        local value = pack('<Bddd', 1, start, scr[j6 - 4], alive)
        if not modern then call('SET', key, value, 'PX', start + win - now)
        elseif scr[j6] then call('SET', key, value, 'KEEPTTL')
        else call('SET', key, value, 'PXAT', start + win) end
      else
        local left = cost
        local stamp = string.format('%d', now)
        while left > 0 do
          local chunk = {}
          local size = left
          if size > 1000 then size = 1000 end
          for j = 1, size do chunk[j] = stamp end
          call('LPUSH', key, unpack(chunk))
          left = left - size
        end
        call('PEXPIRE', key, win)
      end
    end
  end
  k = k + n + 1
  a = a + 2
end
out[o + 1] = now
return out
`;

/**
 * SHA-1 of the script, as `EVALSHA` wants it.
 *
 * @example
 * await client.call('EVALSHA', CONSUME_SCRIPT_SHA, 2, 'p{k}', 'p{k}:x:t', 1, 1, 't', 5, 60000);
 */
export const CONSUME_SCRIPT_SHA = createHash('sha1').update(CONSUME_SCRIPT).digest('hex');

/**
 * The Lua script behind `RedisStore.refund`: gives back one charge of
 * `CONSUME_SCRIPT`, atomically, on Redis's clock, for every policy of the request.
 *
 * KEYS   the client's index set, then one state key per policy (as CONSUME_SCRIPT,
 *        so the call goes to the same hash slot)
 * ARGV   the charge's receipt (Redis's time of the charging call, in ms), cost, the
 *        number of policies n, then per policy: code (t|f|s), limit, window in ms
 *
 * Token bucket: `cost × window` comes off the stored level, never more than the
 * bucket holds now (what drained since is gone either way); the state keeps its
 * time, so the arithmetic of the next decision is unchanged. Fixed window: `cost`
 * comes off the count only if the state is still the charge's window. Sliding
 * log: `LREM` removes `cost` entries stamped with the charge's time (the entries
 * that charge added; entries of one stamp are interchangeable). Every key keeps
 * its TTL: the state only gets smaller.
 *
 * @example
 * await client.call('EVAL', REFUND_SCRIPT, 2, 'p{k}', 'p{k}:x:t', 1700000000000, 1, 1, 't', 5, 60000);
 */
export const REFUND_SCRIPT = `${PRELUDE}
local chargedAt = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local function keep(key, value)
  if modern then
    call('SET', key, value, 'KEEPTTL')
  else
    local ttl = call('PTTL', key)
    if ttl > 0 then call('SET', key, value, 'PX', ttl) end
  end
end
local a = 4
for i = 1, n do
  local key = KEYS[i + 1]
  local algo = ARGV[a]
  local limit = tonumber(ARGV[a + 1])
  local win = tonumber(ARGV[a + 2])
  a = a + 3
  if algo == 't' then
    local v = call('GET', key)
    if v then
      local lv, at, u, e, level
      ${TOKEN_BUCKET_STATE}
      -- Text state written without its expiry keeps the key's TTL.
      if not e then e = now + call('PTTL', key) end
      local give = cost * win
      if give > level then give = level end
      if give > 0 then keep(key, pack('<Bdddd', 1, lv - give, at, u, e)) end
    end
  elseif algo == 'f' then
    local v = call('GET', key)
    if v then
      local st, c, u
      ${FIXED_WINDOW_STATE}
      if st == chargedAt - (chargedAt % win) and c > 0 then
        local left = c - cost
        if left < 0 then left = 0 end
        keep(key, pack('<Bddd', 1, st, left, u))
      end
    end
  else
    call('LREM', key, cost, string.format('%d', chargedAt))
  end
end
return 1
`;

/**
 * SHA-1 of {@link REFUND_SCRIPT}, as `EVALSHA` wants it.
 *
 * @example
 * await client.call('EVALSHA', REFUND_SCRIPT_SHA, 2, 'p{k}', 'p{k}:x:t', 1700000000000, 1, 1, 't', 5, 60000);
 */
export const REFUND_SCRIPT_SHA = createHash('sha1').update(REFUND_SCRIPT).digest('hex');
