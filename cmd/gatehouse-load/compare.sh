#!/usr/bin/env bash
# compare.sh runs Gatehouse and then, on the same machine right after,
# zitadel/oidc's example OP (in memory, plaintext passwords) through the same
# workloads with gatehouse-load, and prints their rates side by side.
#
#   cmd/gatehouse-load/compare.sh [--duration 15s] [--workers 8] [--users 20000]
#
# or DURATION=15s WORKERS=8 USERS=20000 in the environment. USERS is how many
# users are seeded into Gatehouse (each with an authenticator app); the
# sign-ins take them in turn, so they must outnumber 30 seconds of sign-ins
# (an authenticator app code is good once). Gatehouse listens on loopback;
# the peer, as the example is written, on every interface, for the minute it
# runs. All data is in a temporary directory, removed at the end; no root
# needed.
#
# The workloads, each for DURATION at WORKERS concurrent clients:
#   client_credentials  token issue to a confidential client
#   client_credentials_jwt  the same to a client registered for RFC 9068
#                       JWT access tokens (--access-token-format jwt),
#                       which are signed (ES256: see refresh_es256), not
#                       stored
#   introspect          one signed-in user's access token, introspected by the
#                       app it was issued to (the example OP lets a client
#                       introspect only tokens issued to it for a user)
#   refresh             each worker signs in once, then rotates its refresh
#                       token over and over (each answer has an RS256 ID token)
#   refresh_es256       the same with Gatehouse restarted with
#                       --keys.signing-algorithm ES256 (the peer: RS256)
#   signin              a new browser's whole sign-in: /authorize, password,
#                       code exchange; at Gatehouse also the authenticator app
#                       code, and an argon2id hash: not comparable, so the
#                       Gatehouse figure is read against this machine's
#                       argon2id ceiling instead
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-15s}
WORKERS=${WORKERS:-8}
USERS=${USERS:-20000}
PEER_MODULE=github.com/zitadel/oidc/v3
PEER_VERSION=v3.51.17
PEER_USERS=1000 # the example OP looks users up by a linear scan
PASSWORD='load test password'
REDIRECT_URI=http://127.0.0.1:1/cb # nothing listens: the tool reads the code off the redirect

while (($#)); do
	case $1 in
	--duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
	--workers) WORKERS=${2:?--workers needs a value}; shift 2 ;;
	--users) USERS=${2:?--users needs a value}; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "compare.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done
if ((USERS < 2000)); then
	echo "compare.sh: --users must be at least 2000" >&2
	exit 2
fi

repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-compare.XXXXXX")
server_pid=

# stop_server stops the server this script started (SIGTERM: a background
# job of a script ignores SIGINT), killing it if it lingers.
stop_server() {
	if [[ -n $server_pid ]]; then
		kill -TERM "$server_pid" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=
	fi
}
cleanup() {
	stop_server
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server LOG URL COMMAND… starts a server in the background and waits
# until URL (its discovery document) answers.
start_server() {
	local log=$1 url=$2
	shift 2
	"$@" >"$log" 2>&1 &
	server_pid=$!
	wait_for "$url" "$server_pid" "$log"
}

# peak_rss is the running server's peak resident set (VmHWM) in MB.
peak_rss() {
	awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$server_pid/status"
}

# measure NAME WORKLOAD SCENARIO ARGS… runs one workload, the load tool's
# SCENARIO, and keeps its summary line as results[NAME.WORKLOAD]; a run
# with errors is reported, not fatal.
declare -A results
measure() {
	local name=$1 workload=$2 scenario=$3 out
	shift 3
	say "$name: $workload for $DURATION at $WORKERS workers (load average $(loadavg))"
	out=$("$work/bin/gatehouse-load" -scenario "$scenario" -duration "$DURATION" -concurrency "$WORKERS" -summary "$@" 2>&1) || true
	local line
	line=$(sed -n 's/^summary //p' <<<"$out")
	if [[ -z $line ]]; then
		echo "$out" >&2
		die "$name $workload: no result"
	fi
	if [[ $(field errors "$line") != 0 ]]; then
		echo "$out" >&2
		say "$name $workload: some requests failed (above)"
	fi
	results[$name.$workload]=$line
}

say "building gatehouse and gatehouse-load"
(cd "$repo" && go build -o "$work/bin/gatehouse" ./cmd/gatehouse && go build -o "$work/bin/gatehouse-load" ./cmd/gatehouse-load)

# The peer: go install names it "server", so check that it is the module
# and version meant before using one found on GOBIN or PATH.
gobin=$(go env GOBIN)
gobin=${gobin:-$(go env GOPATH)/bin}
is_peer() { [[ -x $1 ]] && go version -m "$1" 2>/dev/null | grep -q "mod[[:space:]]*$PEER_MODULE[[:space:]]*$PEER_VERSION"; }
peer=
for candidate in "$gobin/server" "$(command -v server || true)"; do
	if [[ -n $candidate ]] && is_peer "$candidate"; then
		peer=$candidate
		break
	fi
done
if [[ -z $peer ]]; then
	say "installing $PEER_MODULE/example/server@$PEER_VERSION"
	go install "$PEER_MODULE/example/server@$PEER_VERSION"
	peer=$gobin/server
	is_peer "$peer" || die "$peer is not $PEER_MODULE $PEER_VERSION"
fi

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_start=$(loadavg)

# Gatehouse: the first start makes the database, then, stopped, it gets a
# client and seeded users (the database has one writer).
port=$(free_port)
issuer=http://127.0.0.1:$port
data=$work/gatehouse-data
gatehouse=("$work/bin/gatehouse" --data-dir "$data" --listen "127.0.0.1:$port" --issuer "$issuer" --demo.enabled=false)
start_server "$work/gatehouse-first.log" "$issuer/.well-known/openid-configuration" "${gatehouse[@]}"
stop_server
client=$("$work/bin/gatehouse" client add --data-dir "$data" --name load --redirect-uri "$REDIRECT_URI" \
	--grant authorization_code --grant refresh_token --grant client_credentials)
client_id=$(sed -n 's/^client_id: //p' <<<"$client")
client_secret=$(sed -n 's/^client_secret: //p' <<<"$client")
[[ -n $client_id && -n $client_secret ]] || die "no client id and secret from: $client"
service=$("$work/bin/gatehouse" client add --data-dir "$data" --name service --grant client_credentials --access-token-format jwt)
service_id=$(sed -n 's/^client_id: //p' <<<"$service")
service_secret=$(sed -n 's/^client_secret: //p' <<<"$service")
[[ -n $service_id && -n $service_secret ]] || die "no client id and secret from: $service"
say "seeding $USERS users"
"$work/bin/gatehouse-load" seed -data-dir "$data" -users "$USERS" -password "$PASSWORD" -totp-seed compare >&2
start_server "$work/gatehouse.log" "$issuer/.well-known/openid-configuration" "${gatehouse[@]}"

# Each workload that signs in takes its own users: an authenticator app
# code is spent for its 30 seconds.
common=(-issuer "$issuer" -client-id "$client_id" -client-secret "$client_secret")
signing=(-redirect-uri "$REDIRECT_URI" -password "$PASSWORD" -totp-seed compare)
measure gatehouse client_credentials client_credentials "${common[@]}"
measure gatehouse introspect introspect "${common[@]}" "${signing[@]}" -introspect-token signin -first-user $((USERS - 1))
measure gatehouse refresh refresh "${common[@]}" "${signing[@]}" -first-user $((USERS - 1000)) -users 499
measure gatehouse signin signin "${common[@]}" "${signing[@]}" -users $((USERS - 1000))
gatehouse_rss=$(peak_rss)
stop_server
# ES256 signing (a server setting, so a restart): JWT access tokens, and
# refresh again, its ID tokens ES256.
start_server "$work/gatehouse-es256.log" "$issuer/.well-known/openid-configuration" "${gatehouse[@]}" --keys.signing-algorithm ES256
measure gatehouse client_credentials_jwt client_credentials -issuer "$issuer" -client-id "$service_id" -client-secret "$service_secret"
measure gatehouse refresh_es256 refresh "${common[@]}" "${signing[@]}" -first-user $((USERS - 500)) -users 499
stop_server
load_between=$(loadavg)

# The peer: its static clients are sid1 (client_credentials only) and web
# (code and refresh); its users come from a file, passwords in plaintext.
# It listens on every interface (":PORT"), as the example is written.
port=$(free_port)
issuer=http://localhost:$port
awk -v n="$PEER_USERS" -v pw="$PASSWORD" 'BEGIN {
	printf "{"
	for (i = 0; i < n; i++)
		printf "%s\"u%d\":{\"ID\":\"u%d\",\"Username\":\"user%d\",\"Password\":\"%s\",\"FirstName\":\"Load\",\"LastName\":\"%d\",\"Email\":\"user%d@example.org\",\"EmailVerified\":true}", (i ? "," : ""), i, i, i, pw, i, i
	print "}"
}' >"$work/peer-users.json"
start_server "$work/peer.log" "$issuer/.well-known/openid-configuration" \
	env PORT="$port" REDIRECT_URI="$REDIRECT_URI" USERS_FILE="$work/peer-users.json" "$peer"
web=(-issuer "$issuer" -client-id web -client-secret secret -login zitadel-example -redirect-uri "$REDIRECT_URI" -password "$PASSWORD")
measure peer client_credentials client_credentials -issuer "$issuer" -client-id sid1 -client-secret verysecret
measure peer introspect introspect "${web[@]}" -introspect-token signin
measure peer refresh refresh "${web[@]}" -users "$PEER_USERS"
measure peer signin signin "${web[@]}" -users "$PEER_USERS"
peer_rss=$(peak_rss)
stop_server
load_end=$(loadavg)

# peer_workload is the peer's workload to set against Gatehouse's: the
# peer has one kind of access token and one signing algorithm.
peer_workload() {
	case $1 in
	client_credentials_jwt) echo client_credentials ;;
	refresh_es256) echo refresh ;;
	*) echo "$1" ;;
	esac
}

# The table, in Markdown.
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "Gatehouse $commit vs zitadel/oidc $PEER_VERSION example OP, $started"
echo "$(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $WORKERS workers, $DURATION a workload"
echo "load average (1, 5, 15 min): $load_start at the start, $load_between between, $load_end at the end"
echo
echo "| workload | Gatehouse /s | peer /s | ratio | Gatehouse p99 | peer p99 | failed |"
echo "|---|--:|--:|--:|--:|--:|--:|"
for w in client_credentials client_credentials_jwt introspect refresh refresh_es256 signin; do
	g=${results[gatehouse.$w]} p=${results[peer.$(peer_workload "$w")]}
	awk -v w="$w" -v g="$(field rps "$g")" -v p="$(field rps "$p")" -v g99="$(field p99_ms "$g")" -v p99="$(field p99_ms "$p")" \
		-v ge="$(field errors "$g")" -v pe="$(field errors "$p")" 'BEGIN {
		ratio = (w == "signin" || p == 0) ? "-" : sprintf("%.2f", g / p)
		printf "| %s | %.1f | %.1f | %s | %.1f ms | %.1f ms | %d / %d |\n", w, g, p, ratio, g99, p99, ge, pe
	}'
done
awk -v g="$gatehouse_rss" -v p="$peer_rss" 'BEGIN { printf "| peak RSS (VmHWM) | %d MB | %d MB | %.2f | | | |\n", g, p, g / p }'
g=${results[gatehouse.signin]}
awk -v rate="$(field rps "$g")" -v ceiling="$(field ceiling "$g")" 'BEGIN {
	printf "\nsign-in: Gatehouse %.1f/s = %.0f %% of this machine'"'"'s argon2id ceiling, %.1f hashes/s (OWASP parameters, measured just before).\n", rate, 100 * rate / ceiling, ceiling
	print "The peer checks a plaintext password and asks for no second factor: its sign-in rate is shown, not compared."
}'
echo "ratio: Gatehouse / peer (for req/s, above 1 is Gatehouse ahead; for RSS, below 1 is). failed: requests, Gatehouse / peer."
