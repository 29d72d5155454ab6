-- ruledsl RedisStore: every window/sequence op of one event (or, in a
-- cluster, of one window-key value) in one script call.  See ruledsl/stores/redis.py.
--
-- KEYS[i] is the state key of op i and ARGV[i] its arguments: a 43-byte
-- header '<c2Bddddd' = code flags ts D dl lat ttl, then a payload.
--   code   window: agg letter (c count, s sum, a avg, m min, M max,
--          d distinct, l last, S since) + 'f' (float values) or '-';
--          sequence: 'q-'
--   flags  1 = include the current entry (windows), 2 = add after the query
--   ts     event time (ms); a window is (ts - D, ts]; for sequences D = within
--   dl     D + lateness: on add, entries with ts_e <= newest - dl are evicted
--   lat    lateness: last/since keep one entry at or below newest - lat;
--          sequences drop starts < newest - lat - within
--   ttl    key TTL in ms (SET ... PX)
--   payload  window: the value, 8 bytes ('>i8' int, '<d' float), tagged
--          bytes for last, '' for count/since; sequence: one '0'/'1' per
--          step (step 0 first)
-- Window key: a string of entries sorted by ts, equal ts in arrival order:
--   count/since: '>i8' ts; sum/avg/min/max/distinct: '>i8' ts .. 8-byte value;
--   last: '>i8' ts .. '>I4' length .. value.
-- Sequence key: '>i8' newest ts, then one '>i8' start per step but the last
-- (NONE when absent).
local S53 = 9007199254740992
local NONE = -4611686018427387904
local spack, sunpack, ssub, sbyte, fmt, floor = struct.pack, struct.unpack, string.sub, string.byte, string.format, math.floor

local HEADER = '<c2Bddddd'

local function f17(x) return fmt('%.17g', x) end

-- first index (0-based) in [lo, hi) whose ts is > x; entries are E bytes, ts first
local function bisect(blob, E, x, lo, hi)
  while lo < hi do
    local mid = floor((lo + hi) / 2)
    if x < sunpack('>i8', blob, mid * E + 1) then hi = mid else lo = mid + 1 end
  end
  return lo
end

-- the raw 8-byte values of entries [lo, hi): Python finishes int aggregates beyond 2^53
local function raw_values(blob, lo, hi)
  local out = {'R'}
  for i = lo, hi - 1 do out[#out + 1] = ssub(blob, i * 16 + 9, i * 16 + 16) end
  return out
end

local function aggregate(agg, isf, blob, lo, hi, inc, cur)
  if agg == 'd' then
    local seen, cnt = {}, 0
    local function see(raw)
      local k = raw
      if isf then
        local v = sunpack('<d', raw)
        if v ~= v then k = 'n' elseif v == 0 then k = 'z' end
      end
      if not seen[k] then seen[k] = true; cnt = cnt + 1 end
    end
    for i = lo, hi - 1 do see(ssub(blob, i * 16 + 9, i * 16 + 16)) end
    if inc then see(cur) end
    return cnt
  end
  if agg == 's' or agg == 'a' then
    local s, c = 0.0, hi - lo
    if isf then
      for i = lo, hi - 1 do s = s + sunpack('<d', blob, i * 16 + 9) end
      if inc then s = s + sunpack('<d', cur); c = c + 1 end
      if agg == 's' then return f17(s) end
      if c == 0 then return false end
      return {f17(s), c}
    end
    for i = lo, hi - 1 do
      local v = sunpack('>i8', blob, i * 16 + 9)
      s = s + v
      if v >= S53 or v <= -S53 or s >= S53 or s <= -S53 then return raw_values(blob, lo, hi) end
    end
    if inc then
      local v = sunpack('>i8', cur)
      s = s + v
      c = c + 1
      if v >= S53 or v <= -S53 or s >= S53 or s <= -S53 then return raw_values(blob, lo, hi) end
    end
    if agg == 's' then return s end
    if c == 0 then return false end
    return {s, c}
  end
  -- min / max: left fold in (ts, arrival) order keeping the first of equal values; NaN absorbs
  local m, have = 0, false
  local vf = isf and '<d' or '>i8'
  local function fold(v)
    if not isf and (v >= S53 or v <= -S53) then return true end
    if not have then m = v; have = true
    elseif agg == 'm' then
      if v ~= v or v < m then m = v end
    elseif v ~= v or v > m then m = v end
    return false
  end
  for i = lo, hi - 1 do
    if fold(sunpack(vf, blob, i * 16 + 9)) then return raw_values(blob, lo, hi) end
  end
  if inc and fold(sunpack(vf, cur)) then return raw_values(blob, lo, hi) end
  if not have then return false end
  if isf then return f17(m) end
  return m
end

-- entries to drop from the front of a sorted entry list: ts_e <= newest - dl,
-- and (keep_last) all but the newest entry at or below newest - lat
local function first_above(tsl, x, lo, hi)
  while lo < hi do
    local mid = floor((lo + hi) / 2)
    if x < tsl[mid + 1] then hi = mid else lo = mid + 1 end
  end
  return lo
end

local function n_evict_list(tsl, n, dl, lat)
  local newest = tsl[n]
  local k = 0
  if tsl[1] <= newest - dl then k = first_above(tsl, newest - dl, 0, n) end
  if k < n - 1 and tsl[k + 2] <= newest - lat then
    local j = first_above(tsl, newest - lat, k, n)
    if j - 1 > k then k = j - 1 end
  end
  return k
end

local function n_evict_blob(blob, E, n, dl, lat, keep_last)
  local newest = sunpack('>i8', blob, (n - 1) * E + 1)
  local k = 0
  if sunpack('>i8', blob, 1) <= newest - dl then k = bisect(blob, E, newest - dl, 0, n) end
  if keep_last and k < n - 1 and sunpack('>i8', blob, (k + 1) * E + 1) <= newest - lat then
    local j = bisect(blob, E, newest - lat, k, n)
    if j - 1 > k then k = j - 1 end
  end
  return k
end

local function window_op(K, a)
  local code, flags, ts, D, dl, lat, ttl = sunpack(HEADER, a)
  local val = ssub(a, 44)
  local agg = ssub(code, 1, 1)
  local isf = ssub(code, 2, 2) == 'f'
  local inc = flags % 2 == 1
  local add = flags >= 2
  local blob = redis.call('GET', K) or ''
  local r
  if agg == 'l' then
    -- variable-size entries: parse them (few: one per key once older than the lateness)
    local tsl, vals, n, p, len = {}, {}, 0, 1, #blob
    while p <= len do
      local sz = sunpack('>I4', blob, p + 8)
      n = n + 1
      tsl[n] = sunpack('>i8', blob, p)
      vals[n] = ssub(blob, p, p + 11 + sz)
      p = p + 12 + sz
    end
    local i = n
    while i >= 1 and tsl[i] > ts do i = i - 1 end
    if i >= 1 and tsl[i] > ts - D then r = ssub(vals[i], 13) else r = false end
    if add then
      table.insert(tsl, i + 1, ts)
      table.insert(vals, i + 1, spack('>i8', ts) .. spack('>I4', #val) .. val)
      n = n + 1
      local k = n_evict_list(tsl, n, dl, lat)
      if k >= n then
        redis.call('DEL', K)
      else
        redis.call('SET', K, table.concat(vals, '', k + 1, n), 'PX', fmt('%d', ttl))
      end
    end
    return r
  end
  local E = (agg == 'c' or agg == 'S') and 8 or 16
  local n = #blob / E
  local hi = n
  if n > 0 and sunpack('>i8', blob, (n - 1) * E + 1) > ts then hi = bisect(blob, E, ts, 0, n) end
  local lo = bisect(blob, E, ts - D, 0, hi)
  if agg == 'c' then
    r = hi - lo
    if inc then r = r + 1 end
  elseif agg == 'S' then
    if hi > lo then r = ts - sunpack('>i8', blob, (hi - 1) * E + 1) else r = false end
  else
    r = aggregate(agg, isf, blob, lo, hi, inc, val)
  end
  if add then
    -- insert after every entry with ts_e <= ts (hi), keeping equal timestamps in arrival order
    blob = ssub(blob, 1, hi * E) .. spack('>i8', ts) .. val .. ssub(blob, hi * E + 1)
    n = n + 1
    local k = n_evict_blob(blob, E, n, dl, lat, agg == 'S')
    if k >= n then
      redis.call('DEL', K)
    else
      if k > 0 then blob = ssub(blob, k * E + 1) end
      redis.call('SET', K, blob, 'PX', fmt('%d', ttl))
    end
  end
  return r
end

local function sequence_op(K, a)
  local _, flags, ts, within, _, lat, ttl = sunpack(HEADER, a)
  local bits = ssub(a, 44)
  local m = #bits - 1
  local raw = redis.call('GET', K)
  local st, newest = false, 0
  if raw then
    st = {}
    newest = sunpack('>i8', raw, 1)
    for j = 1, m do
      local v = sunpack('>i8', raw, 8 * j + 1)
      if v == NONE then st[j] = false else st[j] = v end
    end
  end
  local r = 0
  if sbyte(bits, m + 1) == 49 then
    if m == 0 then r = 1
    elseif st and st[m] and ts - st[m] <= within then r = 1 end
  end
  if flags >= 2 and m > 0 then
    if not st and sbyte(bits, 1) == 49 then
      st = {}
      for j = 1, m do st[j] = false end
      newest = ts
    end
    if st then
      for s = m - 1, 1, -1 do            -- step s (0-based) takes the start of step s-1
        if sbyte(bits, s + 1) == 49 then
          local prev = st[s]
          if prev and (not st[s + 1] or prev > st[s + 1]) then st[s + 1] = prev end
        end
      end
      if sbyte(bits, 1) == 49 and (not st[1] or ts > st[1]) then st[1] = ts end
      if ts > newest then newest = ts end
      local cut = newest - lat - within
      local parts = {spack('>i8', newest)}
      for j = 1, m do
        if st[j] and st[j] < cut then st[j] = false end
        parts[j + 1] = spack('>i8', st[j] or NONE)
      end
      if st[1] then
        redis.call('SET', K, table.concat(parts), 'PX', fmt('%d', ttl))
      else
        redis.call('DEL', K)
      end
    end
  end
  return r
end

-- 'x' .. seen: the controls' change feed (ruledsl/stores/redis_controls.py), KEYS[i] its stream,
-- read in the event's call so that no event pays a round trip to learn of other processes'
-- controls.  Reply {id, flag, key, record, ...}: the changes after `seen` up to entry `id`
-- (record '' = lifted); flag '' (up to date), 'more' (more than 256 changes: read again) or
-- 'gap' (`seen` is no longer in the feed, or the caller has seen nothing yet: load them all).
local function control_feed(K, a)
  local seen = ssub(a, 2)
  local last = redis.call('XREVRANGE', K, '+', '-', 'COUNT', 1)
  if #last == 0 or seen == '' then return {'', 'gap'} end
  local top = last[1][1]
  if top == seen then return {top, ''} end
  if #redis.call('XRANGE', K, seen, seen) == 0 then return {top, 'gap'} end
  local es = redis.call('XRANGE', K, '(' .. seen, '+', 'COUNT', 256)
  local upto = es[#es][1]
  local out = {upto, upto == top and '' or 'more'}
  for _, e in ipairs(es) do
    local f = e[2]
    if f[1] == 'k' then out[#out + 1] = f[2]; out[#out + 1] = f[4] end
  end
  return out
end

-- With one more ARGV than KEYS, KEYS[1] is the namespace's epoch key, ARGV[1] the
-- epoch the caller knows and ARGV[2] a new one to write if the key is missing
-- (the data were lost); the reply then starts with 0 (unchanged), 1 (was
-- missing, ARGV[2] written) or the epoch found, and the ops follow.
local res, k0, a0 = {}, 0, 0
if #ARGV > #KEYS then
  local e = redis.call('GET', KEYS[1])
  if not e then
    redis.call('SET', KEYS[1], ARGV[2])
    res[1] = 1
  elseif e == ARGV[1] then
    res[1] = 0
  else
    res[1] = e
  end
  k0, a0 = 1, 2
end
local r0 = #res
for i = 1, #KEYS - k0 do
  local K, a = KEYS[i + k0], ARGV[i + a0]
  local c = sbyte(a, 1)
  if c == 113 then
    res[r0 + i] = sequence_op(K, a)
  elseif c == 120 then
    res[r0 + i] = control_feed(K, a)
  else
    res[r0 + i] = window_op(K, a)
  end
end
return res
