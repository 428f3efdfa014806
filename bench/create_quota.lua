-- wrk script for make bench's memory step: QUOTA create_account requests (generated ID,
-- start amount 1000); once all are sent, cheap /health requests keep the connections busy
-- until every create has been answered, then the thread stops. done() prints "created N",
-- the number of 201 answers.
local quota = tonumber(os.getenv("QUOTA") or "1000")
local issued = 0
created = 0

local threads = {}
function setup(thread)
    table.insert(threads, thread)
end

function request()
    if issued < quota then
        issued = issued + 1
        return wrk.format("GET", "/api/1.0/wallet/create_account?startAmount=1000")
    end
    return wrk.format("GET", "/health")
end

function response(status)
    if status == 201 then
        created = created + 1
        if created >= quota then
            wrk.thread:stop()
        end
    end
end

function done()
    local total = 0
    for _, t in ipairs(threads) do
        total = total + t:get("created")
    end
    io.write(string.format("created %d\n", total))
end
