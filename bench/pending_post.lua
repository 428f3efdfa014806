-- wrk script: two-phase transfers, each a pending transfer of 1 between two random distinct
-- accounts acc<N> and then its post, as two single POST /api/1.0/wallet/transfers. A post is
-- sent only for a pending transfer whose answer has arrived (so it is durable and found):
-- request() posts the oldest answered pending transfer if there is one, else reserves a new
-- one, so about half the requests are each. Requests/s / 2 is pairs/s.
local accounts = tonumber(os.getenv("ACCOUNTS") or "10000")
math.randomseed(os.time())
local headers = {["Content-Type"] = "application/json"}
local prefix = string.format("pp%d-", math.random(1, 1000000000))
local next_id = 0
local ready = {} -- answered pending transfers, oldest first
local head, tail = 1, 0

request = function()
    if head <= tail then
        local id = ready[head]
        ready[head] = nil
        head = head + 1
        return wrk.format("POST", "/api/1.0/wallet/transfers", headers,
            '{"transferID":"' .. id .. 'p","postPendingID":"' .. id .. '"}')
    end
    local a = math.random(0, accounts - 1)
    local b = math.random(0, accounts - 2)
    if b >= a then b = b + 1 end
    next_id = next_id + 1
    return wrk.format("POST", "/api/1.0/wallet/transfers", headers,
        '{"transferID":"' .. prefix .. next_id .. '","fromAccount":"acc' .. a ..
        '","toAccount":"acc' .. b .. '","amount":1,"pending":true}')
end

-- Plain finds rather than a pattern: this runs for every answer, on the same two cores as
-- the service. An answer begins {"transactionID":" (18 bytes), then the ID.
local find, sub = string.find, string.sub
response = function(status, hdrs, body)
    if status == 200 and find(body, '"status":"pending"', 19, true) then
        local close = find(body, '"', 19, true)
        tail = tail + 1
        ready[tail] = sub(body, 19, close - 1)
    end
end
