-- wrk script: create_account with a generated ID and a start amount of 1000.
request = function()
    return wrk.format("GET", "/api/1.0/wallet/create_account?startAmount=1000")
end
