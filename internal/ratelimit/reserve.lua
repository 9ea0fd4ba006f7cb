-- reserve.lua: GCRA slots for a batch of messages of one channel account.
--
-- KEYS[1]      the account's theoretical arrival time (TAT), microseconds
-- KEYS[2..n+1] the TAT of each message's chat (only when ARGV[4] > 0); a
--              chat may repeat, later messages then queue behind earlier ones
-- ARGV[1] now, unix microseconds (the caller's wall clock)
-- ARGV[2] account emission interval, microseconds (0 = no account limit)
-- ARGV[3] account burst tolerance, microseconds ((burst-1) * interval)
-- ARGV[4] chat emission interval, microseconds (0 = no per-chat limit)
-- ARGV[5] chat burst tolerance, microseconds
-- ARGV[6] the longest wait a slot may have, microseconds
-- ARGV[7] n, the number of messages
-- ARGV[8] 1 if a message may wait for its chat beyond the account's next
--         slot, leaving the account idle until then (a manager's reply);
--         0 refuses such a message instead
-- Returns n integers: the slot (unix microseconds) of each message, or
-- minus the time its slot would have been when that is more than ARGV[6]
-- away; such a message takes nothing from the account or its chat.
-- Messages that wait for their chat are placed after the others: by then
-- the account's schedule may have reached their chat's slot.
-- Every key shares one hash tag, so the script runs on Redis Cluster.
local now = tonumber(ARGV[1])
local ai, atau = tonumber(ARGV[2]), tonumber(ARGV[3])
local ci, ctau = tonumber(ARGV[4]), tonumber(ARGV[5])
local horizon, n = tonumber(ARGV[6]), tonumber(ARGV[7])
local hold = ARGV[8] == '1'

local function tat(key)
  local v = redis.call('GET', key)
  if v then return tonumber(v) end
  return 0
end

local atat = 0
if ai > 0 then atat = tat(KEYS[1]) end
local chats, order = {}, {}
local out = {}

local function chatTat(ck)
  if chats[ck] == nil then
    chats[ck] = tat(ck)
    order[#order + 1] = ck
  end
  return chats[ck]
end

local function acctNext()
  if ai > 0 and atat - atau > now then return atat - atau end
  return now
end

-- place gives message i the earliest slot both its account and its chat
-- allow, or refuses it (and takes nothing) beyond the horizon, or when it
-- would wait for its chat past the account's next slot and hold is off: an
-- account slot taken in the future would move the whole account's
-- schedule there, idling it for every other chat.
local function place(i)
  local slot = acctNext()
  local ck = KEYS[i + 1]
  local chatBound = false
  if ci > 0 and chatTat(ck) - ctau > slot then
    slot = chats[ck] - ctau
    chatBound = ai > 0 and not hold
  end
  if slot - now > horizon or chatBound then
    out[i] = -slot
    return
  end
  out[i] = slot
  if ai > 0 then atat = math.max(atat, slot) + ai end
  if ci > 0 then chats[ck] = math.max(chats[ck], slot) + ci end
end

-- First the messages whose chat is free by the account's next slot, in
-- order; then those that wait for their chat (a chat repeated in the
-- batch), so that waiting moves the account's schedule only at the end.
local waiting = {}
for i = 1, n do
  if ci > 0 and chatTat(KEYS[i + 1]) - ctau > acctNext() then
    waiting[#waiting + 1] = i
  else
    place(i)
  end
end
for _, i in ipairs(waiting) do place(i) end

-- A key lives until its TAT has passed (plus a second): an expired key
-- and a TAT in the past mean the same, a full burst.
local function store(key, t)
  if t > now then
    redis.call('SET', key, string.format('%.0f', t), 'PX', math.ceil((t - now) / 1000) + 1000)
  end
end
if ai > 0 then store(KEYS[1], atat) end
for _, ck in ipairs(order) do store(ck, chats[ck]) end
return out
