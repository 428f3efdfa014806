-- wrk script: the HTTP ceiling, a fixed small JSON body with no storage behind it.
request = function()
    return wrk.format("GET", "/health")
end
