-- SPDX-License-Identifier: ISC
-- wrk script: POST the DER TimeStampReq named by $TSQ to the target.
-- Built once per thread (static request), so wrk spends no Lua per request.
local f = assert(io.open(os.getenv("TSQ"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/timestamp-query"
