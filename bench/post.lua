-- post.lua: wrk script for bench/run.sh -- POST sendToGroup with a 256-byte JSON body; prints p50/p99/p99.9.
-- Extra headers come from the environment: WRK_PREFER=respond-async adds "Prefer: respond-async".
local path = os.getenv("WRK_PATH") or "/api/hubs/bench/groups/g1/:send?api-version=2024-12-01"
local head, tail = '{"seq":1,"msg":"', '"}'
local body = head .. string.rep("x", 256 - #head - #tail) .. tail
assert(#body == 256)

wrk.method = "POST"
wrk.path = path
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
local prefer = os.getenv("WRK_PREFER")
if prefer and prefer ~= "" then
  wrk.headers["Prefer"] = prefer
end

-- One machine-readable line (latency in microseconds) after wrk's own report.
-- No response() hook on purpose: it would make wrk build a header table per response and slow the client.
-- errors.status counts answers with status >= 400.
function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "WRKRESULT requests=%d seconds=%.3f rps=%.0f p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d " ..
    "errors=%d non2xx=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, e.connect + e.read + e.write + e.timeout, e.status))
end
