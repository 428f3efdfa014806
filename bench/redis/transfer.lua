-- Redis peer for make bench: the same transfer as wallet-service's balance_transfer.
-- KEYS[1] from, KEYS[2] to; ARGV[1] amount. Balances are integer strings.
-- Both accounts exist, from ~= to, amount > 0, sufficient funds; debit, credit, one event.
-- A refusal is a status reply "REFUSED <code>", not an error reply: redis-benchmark stops at
-- the first error reply, and two random keys are the same account once in ACCOUNTS pairs.
local function refuse(code)
    return redis.status_reply('REFUSED ' .. code)
end
local amount = tonumber(ARGV[1])
if not amount or amount <= 0 or amount ~= math.floor(amount) then
    return refuse('invalid_parameter')
end
if KEYS[1] == KEYS[2] then
    return refuse('same_account')
end
local from_balance = redis.call('GET', KEYS[1])
if not from_balance then
    return refuse('account_not_found')
end
if not redis.call('GET', KEYS[2]) then
    return refuse('account_not_found')
end
if tonumber(from_balance) < amount then
    return refuse('insufficient_funds')
end
local after = redis.call('DECRBY', KEYS[1], amount)
redis.call('INCRBY', KEYS[2], amount)
redis.call('XADD', 'events', '*', 'from', KEYS[1], 'to', KEYS[2], 'amount', amount)
return after
