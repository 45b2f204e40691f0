-- wrk script: replays precomputed raw HTTP requests.
--
-- Usage: wrk -t N -c C -d D -s replay.lua URL -- PREFIX
-- Thread k (1-based) reads PREFIX.k: records "<byte length>\n<raw request>", one after the
-- other. Each thread sends its records in order and wraps around at the end; a wrap is
-- counted, because requests that must be unique (Yunxin nonces) would then be replays.
-- done() prints one line, "BENCH {json}", which the harness parses.

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local path = args[1] .. "." .. id
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  reqs = {}
  local pos = 1
  local n = #data
  while pos <= n do
    local nl = data:find("\n", pos, true)
    local len = tonumber(data:sub(pos, nl - 1))
    reqs[#reqs + 1] = data:sub(nl + 1, nl + len)
    pos = nl + len + 1
  end
  data = nil
  i = 0
  wrapped = 0
  count = #reqs
end

function request()
  i = i + 1
  if i > count then
    i = 1
    wrapped = wrapped + 1
  end
  return reqs[i]
end

function done(summary, latency, requests)
  local w = 0
  for _, t in ipairs(threads) do
    w = w + (t:get("wrapped") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"bytes":%d,"errors_connect":%d,"errors_read":%d,' ..
    '"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"p999_us":%d,"mean_us":%.1f,"max_us":%d,"wrapped":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max, w))
end
