-- wrk script: get_balance of a random account among ACCOUNTS (env, default 10000) named acc<N>.
local accounts = tonumber(os.getenv("ACCOUNTS") or "10000")
math.randomseed(os.time())
request = function()
    return wrk.format("GET", "/api/1.0/wallet/get_balance?accountID=acc" .. math.random(0, accounts - 1))
end
