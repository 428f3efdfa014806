-- wrk script: POST /api/1.0/wallet/transfers with a batch of BATCH transfers of 1 between
-- random distinct accounts acc<N>, each with a transferID of its own. The body is joined from
-- fragments made once per thread: only a prefix unique to the request changes, so building
-- an 8,190-transfer body costs wrk a table.concat, not 8,190 string.formats.
local accounts = tonumber(os.getenv("ACCOUNTS") or "10000")
local batch = tonumber(os.getenv("BATCH") or "1000")
local parts = {}
local counter = 0
local seed = os.time()

function init(args)
    math.randomseed(seed + (wrk.thread and tonumber(tostring(wrk.thread):match("0x%x+")) or 0))
    parts[1] = '{"transfers":[{"transferID":"'
    for i = 1, batch do
        local a = math.random(0, accounts - 1)
        local b = math.random(0, accounts - 2)
        if b >= a then b = b + 1 end
        local tail = (i < batch) and '},{"transferID":"' or '}]}'
        parts[2 * i] = "" -- the request's prefix goes here
        parts[2 * i + 1] = "-" .. i .. '","fromAccount":"acc' .. a .. '","toAccount":"acc' ..
            b .. '","amount":1' .. tail
    end
    thread_prefix = string.format("w%x-%x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end

request = function()
    counter = counter + 1
    local p = thread_prefix .. "-" .. counter
    for i = 1, batch do
        parts[2 * i] = p
    end
    return wrk.format("POST", "/api/1.0/wallet/transfers",
        {["Content-Type"] = "application/json"}, table.concat(parts))
end
