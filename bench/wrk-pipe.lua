-- SPDX-License-Identifier: ISC
-- wrk script: DEPTH (environment) copies of the DER TimeStampReq named by
-- $TSQ, POSTed back to back on each connection (HTTP/1.1 pipelining); wrk
-- counts each response.  Built once per thread.
local f = assert(io.open(os.getenv("TSQ"), "rb"))
local body = f:read("*a")
f:close()
local depth = tonumber(os.getenv("DEPTH") or "16")
local batch

init = function(args)
	local one = wrk.format("POST", nil,
	    { ["Content-Type"] = "application/timestamp-query" }, body)
	batch = string.rep(one, depth)
end

request = function()
	return batch
end
