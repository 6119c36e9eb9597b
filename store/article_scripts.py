"""The Lua scripts that decide a feed item's fate: whether its feed has seen it, and, for a new
item, what each target chat gets (queued, held while the channel is paused, skipped as a
duplicate, or the skip the pipeline decided), recorded in the same atomic step.

Identity. An item is the one its feed had before if ANY of its identity keys (guid hash,
canonical-link hash) or legacy keys (what earlier versions called it) is in the feed's seen set.
A chat already had it if any identity key is in the chat's posted set (a duplicate by link: the
same canonical link, or an absolute-URL guid, reached the chat through any feed). Across feeds,
an item whose title fingerprint matches a story another feed queued for the chat within the
window *and* whose text sketch is close enough (bottom-k MinHash; pipeline.identity) is the same
story told twice: a duplicate by story.
"""
from __future__ import annotations

from store.fates import FATES_LUA

# The story rule (pipeline.identity computes the sketches): a text sketch keeps the SKETCH_SIZE
# smallest shingle hashes, and two texts are one story from this estimated Jaccard similarity.
# Copies of a wire story on two sites share most of their lead (0.6-1.0: the same text with
# different furniture, a line added or cut); two different texts share almost none (below 0.1).
SKETCH_SIZE = 24
SAME_STORY_SIMILARITY = 0.5

# Shared Lua: the member a feed's seen set stores for an identity key (sha256 hex keys cut to
# 12 characters, 48 bits: a collision inside one feed's window has odds under 1e-8 for feeds of
# a few thousand items), the membership test (which also finds whole keys, as sets written
# before keys were cut hold them), and the window trim that also drops the trimmed items'
# content hashes.
SEEN_LIB = """
local function compact(id)
  if #id == 64 and not id:find('[^0-9a-f]') then return id:sub(1, 12) end
  return id
end

local function seen_has(seen_key, id)
  local short = compact(id)
  if redis.call('ZSCORE', seen_key, short) then return true end
  return short ~= id and redis.call('ZSCORE', seen_key, id) ~= false
end

local function trim_seen(seen_key, content_key, window, ttl)
  local size = redis.call('ZCARD', seen_key)
  if size > window then
    local old = redis.call('ZRANGE', seen_key, 0, size - window - 1)
    redis.call('ZREMRANGEBYRANK', seen_key, 0, size - window - 1)
    for i = 1, #old, 500 do
      redis.call('HDEL', content_key, unpack(old, i, math.min(i + 499, #old)))
    end
  end
  redis.call('EXPIRE', seen_key, ttl)
  redis.call('EXPIRE', content_key, ttl)
end
"""

# Shared Lua: the chat now has this article. Every identity key goes into the chat's posted set,
# with where it came from (link and feed, for `why` and duplicate fates), both kept posted_ttl.
POSTED_LIB = """
local function mark_posted(posted, origins, ids, nids, url, feed_url, now, posted_ttl)
  for i = 1, nids do
    redis.call('ZADD', posted, now, ids[i])
    redis.call('HSET', origins, ids[i], url .. '\\31' .. feed_url)
  end
  redis.call('EXPIRE', posted, posted_ttl)
  redis.call('EXPIRE', origins, posted_ttl)
end
"""

# Checks a feed's current items against its seen set. Seen items are touched (their score is
# the last time the feed listed them, so the window trim only drops items the feed no longer
# lists) and their content hash is compared with the one recorded: 0 new, 1 seen, 2 seen and
# changed since (the new hash is recorded, so a change is reported once).
# ARGV: now, window, ttl, n, then per item: count of ids, count of legacy ids, content hash,
# ids, legacy ids.
CHECK_ARTICLES_LUA = SEEN_LIB + """
local seen_key, content_key = KEYS[1], KEYS[2]
local now, window, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local out = {}
local pos = 5
for a = 1, n do
  local nids, nlegacy, chash = tonumber(ARGV[pos]), tonumber(ARGV[pos + 1]), ARGV[pos + 2]
  local ids = {}
  for i = 1, nids do ids[i] = ARGV[pos + 2 + i] end
  local status = 0
  for i = 1, nids + nlegacy do
    if seen_has(seen_key, ARGV[pos + 2 + i]) then status = 1 break end
  end
  pos = pos + 3 + nids + nlegacy
  for i = 1, nids do ids[i] = compact(ids[i]) end
  if status == 1 then
    for i = 1, nids do redis.call('ZADD', seen_key, now, ids[i]) end
    if chash ~= '' then
      local old = redis.call('HGET', content_key, ids[1])
      if old ~= chash then
        redis.call('HSET', content_key, ids[1], chash)
        if old then status = 2 end
      end
    end
  end
  out[a] = status
end
if n > 0 then trim_seen(seen_key, content_key, window, ttl) end
return out
"""

# Queues a feed's new items, oldest first, in one atomic step per call. Each item is marked
# seen for the feed (a crash can never leave an item "seen" but not queued) and, per chat,
# queued, held (the channel is paused: into the held stream, released when it resumes), or
# skipped as a duplicate; the pipeline's own skips (first run, filters, unrenderable, review)
# are recorded too. Every one of those is the item's fate in that chat (store.fates).
#
# KEYS: seen, stream, content, held stream, then per chat: posted, fingerprints, origins,
#       stories.
# ARGV: now, window, seen_ttl, posted_ttl, story_window, has_feed, feed_id, feed_url, n,
#       fate hour prefix, skipped list, similarity (0..1), sketch size, state key ('' none),
#       paused-held set, then per item: count of ids, count of legacy ids, fingerprint, content
#       hash, sketch, url, fates key, count of deliveries, count of skips, ids, legacy ids,
#       (chat index, paused 1/0, payload) per delivery, (chat, fate, reason, detail) per skip.
# Returns per item: status (1 new for the feed, 0 seen, 2 seen and changed), count queued,
# the queued deliveries' indexes, count of duplicates, then (index, reason, detail) each.
QUEUE_ARTICLES_LUA = SEEN_LIB + POSTED_LIB + FATES_LUA + """
local seen_key, stream, content_key, held_stream = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local seen_ttl, posted_ttl, story_window = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local has_feed, tag, feed_url, n = ARGV[6] == '1', ARGV[7], ARGV[8], tonumber(ARGV[9])
local hour_prefix, skipped_key = ARGV[10], ARGV[11]
local similarity, sketch_size = tonumber(ARGV[12]), tonumber(ARGV[13])
local state_key, paused_set = ARGV[14], ARGV[15]

local trimmed = {}
local function chat_keys(c)
  local base = 1 + 4 * c
  local posted, fps, origins, stories = KEYS[base], KEYS[base + 1], KEYS[base + 2], KEYS[base + 3]
  if not trimmed[c] then
    trimmed[c] = true
    local old = redis.call('ZRANGEBYSCORE', posted, '-inf', now - posted_ttl, 'LIMIT', 0, 1000)
    if #old > 0 then
      redis.call('ZREM', posted, unpack(old))
      redis.call('HDEL', origins, unpack(old))
    end
    local stale = redis.call('ZRANGEBYSCORE', fps, '-inf', now - story_window, 'LIMIT', 0, 1000)
    if #stale > 0 then
      redis.call('ZREM', fps, unpack(stale))
      redis.call('HDEL', stories, unpack(stale))
    end
  end
  return posted, fps, origins, stories
end

local function split(text)
  local set, list = {}, {}
  for h in string.gmatch(text, '%S+') do
    if not set[h] then set[h] = true table.insert(list, h) end
  end
  return set, list
end

-- The Jaccard similarity two bottom-k sketches estimate (pipeline.identity.sketch_similarity).
local function similar(a, b)
  if a == '' or b == '' then return false end
  local sa, la = split(a)
  local sb, lb = split(b)
  local union = {}
  for _, h in ipairs(la) do table.insert(union, h) end
  for _, h in ipairs(lb) do if not sa[h] then table.insert(union, h) end end
  table.sort(union)
  local k = math.min(sketch_size, #union)
  local both = 0
  for i = 1, k do if sa[union[i]] and sb[union[i]] then both = both + 1 end end
  return k > 0 and both / k >= similarity
end

-- Whether the chat's fate of this article is already settled (a second feed bringing the same
-- link must not turn "posted" into "skipped").
local function settled(fkey, chat)
  local raw = redis.call('HGET', fkey, chat)
  if not raw then return false end
  local f = cjson.decode(raw).f
  return f == 'queued' or f == 'posted' or f == 'held'
end

local out = {}
local pos = 16
for a = 1, n do
  local nids, nlegacy = tonumber(ARGV[pos]), tonumber(ARGV[pos + 1])
  local fp, chash, sketch = ARGV[pos + 2], ARGV[pos + 3], ARGV[pos + 4]
  local url, fkey = ARGV[pos + 5], ARGV[pos + 6]
  local ndel, nskip = tonumber(ARGV[pos + 7]), tonumber(ARGV[pos + 8])
  pos = pos + 9
  local ids = {}
  for i = 1, nids do ids[i] = ARGV[pos + i - 1] end
  local status = 1
  if has_feed then
    for i = 1, nids + nlegacy do
      if seen_has(seen_key, ARGV[pos + i - 1]) then status = 0 break end
    end
  end
  pos = pos + nids + nlegacy
  local uid = ids[1] or ''
  local queued, dups = {}, {}
  if status == 0 then
    -- Seen before: touch it, and report an edit once (as CHECK_ARTICLES_LUA does).
    for i = 1, nids do redis.call('ZADD', seen_key, now, compact(ids[i])) end
    if chash ~= '' and nids > 0 then
      local old = redis.call('HGET', content_key, compact(ids[1]))
      if old ~= chash then
        redis.call('HSET', content_key, compact(ids[1]), chash)
        if old then status = 2 end
      end
    end
  else
    if has_feed then
      for i = 1, nids do redis.call('ZADD', seen_key, now, compact(ids[i])) end
      if chash ~= '' and nids > 0 then redis.call('HSET', content_key, compact(ids[1]), chash) end
    end
    for d = 1, ndel do
      local c, paused, payload = tonumber(ARGV[pos]), ARGV[pos + 1] == '1', ARGV[pos + 2]
      pos = pos + 3
      local chat = cjson.decode(payload).chat
      local posted, fps, origins, stories = chat_keys(c)
      local reason, detail = nil, ''
      for i = 1, nids do
        if redis.call('ZSCORE', posted, ids[i]) then
          reason = 'duplicate_link'
          detail = redis.call('HGET', origins, ids[i]) or ''
          break
        end
      end
      local told = {}
      if not reason and fp ~= '' then
        local raw = redis.call('HGET', stories, fp)
        if raw then told = cjson.decode(raw) end
        for _, story in ipairs(told) do
          if story.f ~= tag and now - tonumber(story.t) <= story_window
              and similar(sketch, story.s) then
            reason, detail = 'duplicate_story', story.u .. '\\31' .. story.n
            break
          end
        end
      end
      if reason then
        table.insert(dups, {d, reason, detail})
        if not settled(fkey, chat) then
          record_fate(fkey, chat, 'skipped', reason, detail, feed_url, uid, url, '', now,
                      hour_prefix, skipped_key)
        end
      else
        mark_posted(posted, origins, ids, nids, url, feed_url, now, posted_ttl)
        if fp ~= '' then
          -- The chat's latest stories under this title: generic titles ("افتتاحية العدد")
          -- are shared by many different texts.
          table.insert(told, 1, {t = now, s = sketch, u = url, f = tag, n = feed_url})
          while #told > 5 do table.remove(told) end
          redis.call('HSET', stories, fp, cjson.encode(told))
          redis.call('ZADD', fps, now, fp)
          redis.call('EXPIRE', stories, story_window)
          redis.call('EXPIRE', fps, story_window)
        end
        if paused then
          redis.call('XADD', held_stream, '*', 'd', payload, 'reason', 'paused', 'chat', chat,
                     'entry', 'paused:' .. tag .. ':' .. compact(uid) .. ':' .. chat,
                     'held_at', tostring(now))
          redis.call('SADD', paused_set, chat)
          record_fate(fkey, chat, 'held', 'paused', '', feed_url, uid, url, '', now,
                      hour_prefix, skipped_key)
        else
          redis.call('XADD', stream, '*', 'd', payload)
          record_fate(fkey, chat, 'queued', '', '', feed_url, uid, url, '', now,
                      hour_prefix, skipped_key)
        end
        table.insert(queued, d)
      end
    end
    for s = 1, nskip do
      local chat, fate, reason, detail = ARGV[pos], ARGV[pos + 1], ARGV[pos + 2], ARGV[pos + 3]
      pos = pos + 4
      record_fate(fkey, chat, fate, reason, detail, feed_url, uid, url, '', now,
                  hour_prefix, skipped_key)
    end
  end
  if status ~= 1 then pos = pos + 3 * ndel + 4 * nskip end
  table.insert(out, status)
  table.insert(out, #queued)
  for _, d in ipairs(queued) do table.insert(out, d) end
  table.insert(out, #dups)
  for _, dup in ipairs(dups) do
    table.insert(out, dup[1])
    table.insert(out, dup[2])
    table.insert(out, dup[3])
  end
end
if has_feed and state_key ~= '' then redis.call('HSET', state_key, 'first_polled', 1) end
if has_feed and n > 0 then trim_seen(seen_key, content_key, window, seen_ttl) end
return out
"""
