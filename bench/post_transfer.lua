-- wrk script: POST /api/1.0/wallet/transfers with one JSON transfer of 1 between two random
-- distinct accounts acc<N> (no transferID: the service generates one, as for the GET).
local accounts = tonumber(os.getenv("ACCOUNTS") or "10000")
math.randomseed(os.time())
local headers = {["Content-Type"] = "application/json"}
request = function()
    local a = math.random(0, accounts - 1)
    local b = math.random(0, accounts - 2)
    if b >= a then b = b + 1 end
    return wrk.format("POST", "/api/1.0/wallet/transfers", headers,
        '{"fromAccount":"acc' .. a .. '","toAccount":"acc' .. b .. '","amount":1}')
end
