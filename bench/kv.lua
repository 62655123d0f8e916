-- wrk script for bench/run-all: the same request shapes against logos and etcd.
--
-- Configured through the environment (wrk passes no arguments to setup):
--   BENCH_SYSTEM  logos | etcd
--   BENCH_OP      put    8-byte keys (8 hex digits), 256-byte values; logos:
--                        PUT /v1/files/k/KEY, etcd: POST /v3/kv/put (base64 JSON)
--                 get    linearizable read of one of BENCH_KEYS keys (default 256)
--                        logos: GET /v1/files/k/KEY, etcd: /v3/kv/range serializable false
--                 stale  the same read served locally: logos ?stale=1, etcd
--                        serializable true
--                 hist   logos: rewrite one of BENCH_KEYS files h/KEY (32-byte values)
--                 fresh  logos: write distinct files r/KEY (32-byte values), keys
--                        from BENCH_BASE on
--                 proc   logos: POST /v1/procs {"argv":["/bin/true"]} without wait;
--                        with BENCH_COUNT=N (> 1), {"argv":["/bin/true"],"count":N}:
--                        N processes placed by one command; with BENCH_NODE=NAME,
--                        all placed on that host ("node")
--   BENCH_PORTS   optional comma-separated ports: thread i sends to the i-th
--                 (modulo), all on 127.0.0.1; "spread over all members"
--   BENCH_LIMIT   optional: a thread stops after this many answers
--   BENCH_OUT     file to which done() appends one JSON line with the figures
--   BENCH_LABEL   free text copied into that line
-- done() also prints requests/s, p50 and p99 on stdout.

local system = os.getenv("BENCH_SYSTEM") or "logos"
local op = os.getenv("BENCH_OP") or "put"
local nkeys = tonumber(os.getenv("BENCH_KEYS") or "256")
local limit = tonumber(os.getenv("BENCH_LIMIT") or "0")
local base = tonumber(os.getenv("BENCH_BASE") or "0")
local count = tonumber(os.getenv("BENCH_COUNT") or "1")
local node = os.getenv("BENCH_NODE")
local node_field = (node and node ~= "") and (',"node":"' .. node .. '"') or ""

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function b64(s)
	local out = {}
	for i = 1, #s, 3 do
		local a, b, c = s:byte(i, i + 2)
		local n = a * 65536 + (b or 0) * 256 + (c or 0)
		local c1 = math.floor(n / 262144) % 64
		local c2 = math.floor(n / 4096) % 64
		local c3 = math.floor(n / 64) % 64
		local c4 = n % 64
		out[#out + 1] = b64chars:sub(c1 + 1, c1 + 1) .. b64chars:sub(c2 + 1, c2 + 1) ..
			(b and b64chars:sub(c3 + 1, c3 + 1) or "=") ..
			(c and b64chars:sub(c4 + 1, c4 + 1) or "=")
	end
	return table.concat(out)
end

local value = string.rep("0123456789abcdef", 16) -- 256 bytes
local value_b64 = b64(value)
local small = string.rep("v", 32)

local threads = {}
local nthreads_total = 0

function setup(thread)
	nthreads_total = nthreads_total + 1
	thread:set("tid", nthreads_total - 1)
	local ports = os.getenv("BENCH_PORTS")
	if ports and ports ~= "" then
		local list = {}
		for p in ports:gmatch("[^,]+") do
			list[#list + 1] = p
		end
		local p = list[(nthreads_total - 1) % #list + 1]
		thread.addr = wrk.lookup("127.0.0.1", p)[1]
	end
	threads[#threads + 1] = thread
end

function init(args)
	counter = 0
	answers = 0
	math.randomseed(os.time() * 7919 + (tid or 0))
	-- setup() ran once per thread before; the total is the last tid + 1,
	-- unknown here, so keys interleave by a fixed stride of 64 threads.
	stride = 64
end

local function key8(n)
	return string.format("%08x", n % 4294967296)
end

function request()
	counter = counter + 1
	if op == "put" then
		local k = key8((counter - 1) * stride + tid)
		if system == "etcd" then
			return wrk.format("POST", "/v3/kv/put", {["Content-Type"] = "application/json"},
				'{"key":"' .. b64(k) .. '","value":"' .. value_b64 .. '"}')
		end
		return wrk.format("PUT", "/v1/files/k/" .. k, nil, value)
	elseif op == "get" or op == "stale" then
		local k = key8(math.random(0, nkeys - 1))
		if system == "etcd" then
			local ser = (op == "stale") and "true" or "false"
			return wrk.format("POST", "/v3/kv/range", {["Content-Type"] = "application/json"},
				'{"key":"' .. b64(k) .. '","serializable":' .. ser .. '}')
		end
		return wrk.format("GET", "/v1/files/k/" .. k .. ((op == "stale") and "?stale=1" or ""))
	elseif op == "hist" then
		return wrk.format("PUT", "/v1/files/h/" .. key8(math.random(0, nkeys - 1)), nil, small)
	elseif op == "fresh" then
		return wrk.format("PUT", "/v1/files/r/" .. key8(base + (counter - 1) * stride + tid), nil, small)
	elseif op == "proc" then
		if count > 1 then
			return wrk.format("POST", "/v1/procs", {["Content-Type"] = "application/json"},
				'{"argv":["/bin/true"],"count":' .. count .. node_field .. '}')
		end
		return wrk.format("POST", "/v1/procs", {["Content-Type"] = "application/json"},
			'{"argv":["/bin/true"]' .. node_field .. '}')
	end
	error("unknown BENCH_OP " .. op)
end

function response(status, headers, body)
	answers = answers + 1
	if status > 299 then
		bad_status = status -- the last non-2xx status seen, for the report
	end
	if limit > 0 and answers >= limit then
		wrk.thread:stop()
	end
end

function done(summary, latency, requests)
	local secs = summary.duration / 1e6
	local e = summary.errors
	local errors = e.connect + e.read + e.write + e.status + e.timeout
	local rps = summary.requests / secs
	local p50 = latency:percentile(50) / 1000
	local p99 = latency:percentile(99) / 1000
	local bad = 0
	for _, t in ipairs(threads) do
		bad = t:get("bad_status") or bad
	end
	io.write(string.format("%s %s: %.0f requests/s, p50 %.3f ms, p99 %.3f ms, %d requests, %d errors (status %d, last non-2xx %d)\n",
		system, op, rps, p50, p99, summary.requests, errors, e.status, bad))
	local out = os.getenv("BENCH_OUT")
	if out and out ~= "" then
		local f = assert(io.open(out, "a"))
		f:write(string.format('{"kind":"wrk","label":"%s","system":"%s","op":"%s","requests":%d,' ..
			'"seconds":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"errors":%d,"status_errors":%d,' ..
			'"bad_status":%d}\n',
			os.getenv("BENCH_LABEL") or "", system, op, summary.requests, secs, rps, p50, p99,
			errors, e.status, bad))
		f:close()
	end
end
