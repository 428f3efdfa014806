-- wrk script: balance_transfer of 1 between two random distinct accounts acc<N>.
local accounts = tonumber(os.getenv("ACCOUNTS") or "10000")
math.randomseed(os.time())
request = function()
    local a = math.random(0, accounts - 1)
    local b = math.random(0, accounts - 2)
    if b >= a then b = b + 1 end
    return wrk.format("GET", "/api/1.0/wallet/balance_transfer?fromAccount=acc" .. a ..
        "&toAccount=acc" .. b .. "&amount=1")
end
