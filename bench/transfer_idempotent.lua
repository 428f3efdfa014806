-- wrk script: balance_transfer of 1 between two random distinct accounts acc<N>, each with
-- a fresh client-chosen transferID (the path careful clients take: one idempotency lookup).
local accounts = tonumber(os.getenv("ACCOUNTS") or "10000")
math.randomseed(os.time())
local prefix = string.format("b%x-%x", os.time(), math.random(0, 0xffffff))
local n = 0
request = function()
    n = n + 1
    local a = math.random(0, accounts - 1)
    local b = math.random(0, accounts - 2)
    if b >= a then b = b + 1 end
    return wrk.format("GET", "/api/1.0/wallet/balance_transfer?fromAccount=acc" .. a ..
        "&toAccount=acc" .. b .. "&amount=1&transferID=" .. prefix .. "-" .. n)
end
