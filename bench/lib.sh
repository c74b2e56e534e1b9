# Shared by bench/run.sh and bench/ack_rate.sh (sourced, not run).

# push_lua FILE PAYLOAD [SIGNATURE]: the wrk script that POSTs the GitHub push PAYLOAD, with
# X-Hub-Signature-256 when given, and a delivery id of its own for every request, as GitHub
# sends: the same id twice would be a repeat, answered from the delivery store without running
# the flow.
push_lua() {
    local file=$1 payload=$2 sig=${3:-}
    {
        cat <<LUA
local f = io.open("$payload", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "push"
LUA
        [ -z "$sig" ] || echo "wrk.headers[\"X-Hub-Signature-256\"] = \"$sig\""
        cat <<'LUA'
local prefix = tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000000))
local n = 0
request = function()
    n = n + 1
    wrk.headers["X-GitHub-Delivery"] = prefix .. "-" .. n
    return wrk.format()
end
LUA
    } >"$file"
}
