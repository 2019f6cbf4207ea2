#!/usr/bin/env bash
# replicas.sh measures Gatehouse on one PostgreSQL database with 1, 2 and
# 3 replicas on this machine, behind gatehouse-load's round-robin proxy,
# and prints one table: sign-in, refresh and introspection rates and
# latencies by the number of replicas. With --big-users it then compares
# sign-in and introspection latency at USERS users with BIG_USERS users
# (one replica).
#
#   cmd/gatehouse-load/replicas.sh [--duration 30s] [--workers 8] [--users 1000]
#                                  [--replicas "1 2 3"] [--big-users 1000000]
#
# or DURATION=30s WORKERS=8 USERS=1000 REPLICAS="1 2 3" BIG_USERS=0 in the
# environment. It builds gatehouse and gatehouse-load into a temporary
# directory; starts a throwaway PostgreSQL 15 from
# /usr/lib/postgresql/15/bin (as nobody when run as root: initdb refuses
# root) with its default settings, fsync on, on a unix socket in a
# temporary directory; makes the database with one replica's first start,
# registers a confidential client, and seeds USERS users, each with an
# authenticator app. Then, for each number of replicas R, it starts R
# replicas (each its own data directory and loopback port, all sharing one
# mfa.key, all with the proxy's URL as issuer), the proxy in front of them,
# and runs, each for DURATION at WORKERS concurrent clients:
#   introspect  one signed-in user's access token, introspected by its app
#   refresh     each worker signs in once, then rotates its refresh token
#   signin      a new browser's whole sign-in, user after user: /authorize,
#               password (OWASP argon2id), the authenticator app's code,
#               code exchange; every step through the proxy, so the steps
#               land on different replicas
# The proxy is in front even of one replica, so only the number of
# replicas changes. Beside each rate the table gives the CPU the replicas,
# PostgreSQL and the proxy used, in cores (the rest of the machine's is the
# load tool's, or idle). An authenticator app code is good once, so the
# users must outnumber 30 seconds of sign-ins; the script waits, if it must,
# until 30 seconds have passed since the last sign-in run before the next.
#
# --big-users N: afterwards, with one replica, signin and introspect once
# more at USERS users, then the seed is topped up to N users (the time it
# takes is printed), the database analysed (vacuumdb --analyze, as after
# any bulk load), and the two run again on users from the middle of the N.
# Seeding 1,000,000 users takes 8 to 17 minutes on a 2-core VM, and about
# 2 GB of disk in TMPDIR.
#
# Everything is removed on exit, Ctrl-C included. Nothing listens beyond
# loopback; PostgreSQL listens on no TCP port at all.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-30s}
WORKERS=${WORKERS:-8}
USERS=${USERS:-1000}
REPLICAS=${REPLICAS:-1 2 3}
BIG_USERS=${BIG_USERS:-0}
PASSWORD='load test password'
TOTP_SEED=replicas
REDIRECT_URI=http://127.0.0.1:1/cb # nothing listens: the tool reads the code off the redirect
PGBIN=/usr/lib/postgresql/15/bin

while (($#)); do
	case $1 in
	--duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
	--workers) WORKERS=${2:?--workers needs a value}; shift 2 ;;
	--users) USERS=${2:?--users needs a value}; shift 2 ;;
	--replicas) REPLICAS=${2:?--replicas needs a value}; shift 2 ;;
	--big-users) BIG_USERS=${2:?--big-users needs a value}; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "replicas.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done

# seconds is a Go duration such as 30s, 2m or 1m30s in seconds.
seconds() {
	awk -v d="$1" 'BEGIN {
		s = 0
		while (match(d, /^[0-9.]+(ms|s|m|h)/)) {
			n = substr(d, 1, RLENGTH); d = substr(d, RLENGTH + 1)
			u = n; sub(/^[0-9.]+/, "", u); sub(/[a-z]+$/, "", n)
			s += n * (u == "ms" ? 0.001 : u == "s" ? 1 : u == "m" ? 60 : 3600)
		}
		if (d != "" || s <= 0) exit 1
		print s
	}'
}
duration_s=$(seconds "$DURATION") || die "--duration $DURATION is not a duration such as 30s or 2m"
read -r -a replica_counts <<<"$REPLICAS"
for r in "${replica_counts[@]}"; do
	[[ $r =~ ^[1-9]$ ]] || die "--replicas: $r is not 1 to 9"
done
[[ $WORKERS =~ ^[0-9]+$ ]] && ((WORKERS >= 1)) || die "--workers must be a positive number"
[[ $BIG_USERS =~ ^[0-9]+$ ]] || die "--big-users must be a number"
# The set-up sign-ins (introspect's one, refresh's one a worker) each take
# users no other run has used: the last users, a block a run.
reserved=$(((${#replica_counts[@]} + 1) * (1 + WORKERS)))
[[ $USERS =~ ^[0-9]+$ ]] && ((USERS >= reserved + 100)) || die "--users must be at least $((reserved + 100)) (100 for sign-ins, $reserved for the set-up of the other runs)"
((BIG_USERS == 0 || BIG_USERS >= 2 * USERS)) || die "--big-users must be 0 (none) or at least twice --users"
[[ -x $PGBIN/initdb ]] || die "no PostgreSQL 15 in $PGBIN (apt-get install postgresql-15)"

repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-replicas.XXXXXX")
pg=
pids=()      # the replicas running
proxy_pid=

# stop PID… stops processes this script started (SIGTERM: a background
# job of a script ignores SIGINT), killing any that linger.
stop() {
	local pid
	for pid; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid; do
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
}
stop_servers() {
	if [[ -n $proxy_pid ]]; then
		stop "$proxy_pid"
		proxy_pid=
	fi
	if ((${#pids[@]})); then
		stop "${pids[@]}"
		pids=()
	fi
}
# as_pg runs a PostgreSQL program as the cluster's owner: nobody when this
# script runs as root.
as_pg() {
	if ((EUID == 0)); then
		runuser -u nobody -- "$@"
	else
		"$@"
	fi
}
cleanup() {
	stop_servers
	if [[ -n $pg && -f $pg/data/postmaster.pid ]]; then
		as_pg "$PGBIN/pg_ctl" -D "$pg/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	[[ -z $pg ]] || rm -rf "$pg"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building gatehouse and gatehouse-load"
(cd "$repo" && go build -o "$work/bin/gatehouse" ./cmd/gatehouse && go build -o "$work/bin/gatehouse-load" ./cmd/gatehouse-load)

# PostgreSQL: its own temporary directory, which its owner must be able to
# reach (the work directory is private to this user).
pg=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-replicas-pg.XXXXXX")
if ((EUID == 0)); then
	chown nobody: "$pg"
fi
say "starting PostgreSQL 15 in $pg"
as_pg "$PGBIN/initdb" -D "$pg/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$pg/initdb.log" 2>&1 ||
	{ cat "$pg/initdb.log" >&2; die "initdb failed"; }
as_pg "$PGBIN/pg_ctl" -D "$pg/data" -l "$pg/log" -w -o "-k $pg -c listen_addresses=" start >/dev/null ||
	{ cat "$pg/log" >&2; die "PostgreSQL did not start"; }
"$PGBIN/createdb" -h "$pg" -U postgres gatehouse
dsn="host=$pg user=postgres dbname=gatehouse sslmode=disable"
postmaster=$(head -1 "$pg/data/postmaster.pid")

proxy_port=$(free_port)
issuer=http://127.0.0.1:$proxy_port
store=(--storage.driver postgres --storage.dsn "$dsn" --mfa.key-file "$work/mfa.key")

# start_replicas R starts R replicas and the proxy in front of them.
start_replicas() {
	local r=$1 i port urls=()
	for i in $(seq "$r"); do
		port=$(free_port)
		"$work/bin/gatehouse" "${store[@]}" --demo.enabled=false --data-dir "$work/replica$i" --listen "127.0.0.1:$port" --issuer "$issuer" >"$work/replica$i-of-$r.log" 2>&1 &
		pids+=($!)
		wait_for "http://127.0.0.1:$port/readyz" "$!" "$work/replica$i-of-$r.log"
		urls+=("http://127.0.0.1:$port")
	done
	"$work/bin/gatehouse-load" proxy -listen "127.0.0.1:$proxy_port" -to "$(
		IFS=,
		echo "${urls[*]}"
	)" >"$work/proxy-$r.log" 2>&1 &
	proxy_pid=$!
	wait_for "$issuer/.well-known/openid-configuration" "$proxy_pid" "$work/proxy-$r.log"
}

# The first start makes the schema, the root unit, the admin, the keys
# and mfa.key; the client and the users go in beside it.
say "first start, the load client and $USERS users"
start_replicas 1
client=$("$work/bin/gatehouse" client add "${store[@]}" --data-dir "$work/cli" --name load --redirect-uri "$REDIRECT_URI" \
	--grant authorization_code --grant refresh_token --grant client_credentials)
client_id=$(sed -n 's/^client_id: //p' <<<"$client")
client_secret=$(sed -n 's/^client_secret: //p' <<<"$client")
[[ -n $client_id && -n $client_secret ]] || die "no client id and secret from: $client"
stop_servers
seed() {
	"$work/bin/gatehouse-load" seed -driver postgres -dsn "$dsn" -mfa-key-file "$work/mfa.key" -users "$1" \
		-password "$PASSWORD" -totp-seed "$TOTP_SEED" | tee -a "$work/seed.log" >&2
}
seed "$USERS"

# cpu_ticks PID… is the CPU time (user and system, in clock ticks) the
# processes have used so far; a process gone counts nothing. With
# --children, that of their children they have waited for too.
cpu_ticks() {
	local children=0 total=0 pid stat f
	if [[ ${1:-} == --children ]]; then
		children=1
		shift
	fi
	for pid; do
		stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		read -r -a f <<<"${stat##*) }" # after the command name, which may hold spaces
		# Fields 14 to 17 of the line: utime, stime, cutime, cstime.
		total=$((total + f[11] + f[12] + children * (f[13] + f[14])))
	done
	echo "$total"
}
# cpu_snapshot is the CPU the replicas, PostgreSQL and the proxy have used
# so far: "gatehouse postgres proxy", in clock ticks. PostgreSQL's is the
# postmaster's, its live children's, and that of the children it has
# reaped: a connection that closes during a run (pgx closes one whose
# query's request was cancelled, as the end of a run cancels some) takes
# its CPU time into the postmaster's. One closing as the snapshot is
# taken is missed: measure waits a second after a run.
cpu_snapshot() {
	echo "$(cpu_ticks "${pids[@]}")" \
		"$(($(cpu_ticks --children "$postmaster") + $(cpu_ticks $(pgrep -P "$postmaster"))))" \
		"$(cpu_ticks $proxy_pid)"
}
# cpu_cores BEFORE AFTER is the cores the replicas, PostgreSQL and the
# proxy used over a run between two snapshots: "1.23 0.45 0.10".
cpu_cores() {
	awk -v hz="$(getconf CLK_TCK)" -v secs="$duration_s" -v before="$1" -v after="$2" 'BEGIN {
		split(before, b, " ")
		split(after, a, " ")
		printf "%.2f %.2f %.2f", (a[1] - b[1]) / hz / secs, (a[2] - b[2]) / hz / secs, (a[3] - b[3]) / hz / secs
	}'
}

# measure KEY SCENARIO ARGS… runs the load tool and keeps its summary line
# as results[KEY] and the CPU the servers used as cpu[KEY]; a run with
# errors is reported, not fatal.
declare -A results cpu
measure() {
	local key=$1 scenario=$2 out line before
	shift 2
	say "$key: $scenario for $DURATION at $WORKERS workers (load average $(loadavg))"
	before=$(cpu_snapshot)
	out=$("$work/bin/gatehouse-load" -issuer "$issuer" -client-id "$client_id" -client-secret "$client_secret" \
		-redirect-uri "$REDIRECT_URI" -password "$PASSWORD" -totp-seed "$TOTP_SEED" \
		-scenario "$scenario" -duration "$DURATION" -concurrency "$WORKERS" -summary "$@" 2>&1) || true
	sleep 1 # for the connections the end of the run closed to be reaped
	cpu[$key]=$(cpu_cores "$before" "$(cpu_snapshot)")
	line=$(sed -n 's/^summary //p' <<<"$out")
	if [[ -z $line ]]; then
		echo "$out" >&2
		die "$key: no result"
	fi
	if [[ $(field errors "$line") != 0 ]]; then
		echo "$out" >&2
		say "$key: some requests failed (above)"
	fi
	if [[ $(field ok "$line") == 0 ]]; then
		say "$key: nothing succeeded in $DURATION (refresh's sign-ins come first: a longer --duration?)"
	fi
	results[$key]=$line
}

# Users: sign-in runs take user0 … in turn; the set-up sign-ins of the
# introspect and refresh runs take a fresh block from the end each.
signin_users=$((USERS - reserved))
next_block=$signin_users
block() {
	block_first=$next_block
	next_block=$((next_block + $1))
}
# A user's code is spent for 30 seconds: a sign-in run starts at least 30
# seconds after the last one ended.
last_signin=0
signin_run() {
	local key=$1 wait
	shift
	wait=$((last_signin + 31 - $(date +%s)))
	if ((wait > 0)); then
		say "waiting $wait s: the last sign-in run's codes are spent for 30 s"
		sleep "$wait"
	fi
	measure "$key" signin "$@"
	last_signin=$(date +%s)
}

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_start=$(loadavg)
for r in "${replica_counts[@]}"; do
	say "$r replica(s)"
	start_replicas "$r"
	block 1
	measure "$r.introspect" introspect -introspect-token signin -first-user "$block_first" -users 1
	block "$WORKERS"
	measure "$r.refresh" refresh -first-user "$block_first" -users "$WORKERS"
	signin_run "$r.signin" -first-user 0 -users "$signin_users"
	stop_servers
	tail -1 "$work/proxy-$r.log" | sed 's/^/replicas.sh: /' >&2
done

if ((BIG_USERS > 0)); then
	say "latency at $USERS users, one replica"
	start_replicas 1
	block 1
	measure "small.introspect" introspect -introspect-token signin -first-user "$block_first" -users 1
	signin_run "small.signin" -first-user 0 -users "$signin_users"
	stop_servers
	say "seeding up to $BIG_USERS users"
	seed "$BIG_USERS"
	seed_line=$(tail -1 "$work/seed.log")
	"$PGBIN/vacuumdb" -h "$pg" -U postgres --analyze --quiet gatehouse
	say "latency at $BIG_USERS users, one replica"
	start_replicas 1
	# Users from the middle of the table, not the ones just written.
	measure "big.introspect" introspect -introspect-token signin -first-user $((BIG_USERS / 2)) -users 1
	measure "big.signin" signin -first-user $((BIG_USERS / 2 + 1)) -users $((BIG_USERS / 2 - 1))
	stop_servers
fi
load_end=$(loadavg)

# The tables, in Markdown.
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "Gatehouse $commit on PostgreSQL $("$PGBIN/postgres" --version | awk '{ print $3 }'), replicas behind gatehouse-load proxy, $started"
echo "$(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $WORKERS workers, $DURATION a run, $USERS users"
echo "load average (1, 5, 15 min): $load_start at the start, $load_end at the end"
echo
echo "| scenario | replicas | req/s | vs 1 replica | p50 | p99 | errors | CPU cores: gatehouse / postgres / proxy |"
echo "|---|--:|--:|--:|--:|--:|--:|--:|"
for s in signin refresh introspect; do
	for r in "${replica_counts[@]}"; do
		line=${results[$r.$s]} one=${results[1.$s]:-}
		awk -v s="$s" -v r="$r" -v rps="$(field rps "$line")" -v one="$(field rps "$one")" -v p50="$(field p50_ms "$line")" \
			-v p99="$(field p99_ms "$line")" -v e="$(field errors "$line")" -v c="${cpu[$r.$s]}" 'BEGIN {
			split(c, cores, " ")
			ratio = one > 0 ? sprintf("%.2f", rps / one) : "-"
			printf "| %s | %d | %.1f | %s | %.1f ms | %.1f ms | %d | %s / %s / %s |\n", s, r, rps, ratio, p50, p99, e, cores[1], cores[2], cores[3]
		}'
	done
done
line=${results[${replica_counts[0]}.signin]}
echo
echo "argon2id ceiling: $(field ceiling "$line") hashes/s on this machine (OWASP parameters, measured by the load tool before the sign-in run)."
if ((BIG_USERS > 0)); then
	echo
	echo "Latency by users, one replica (seeding up to $BIG_USERS: $seed_line)"
	echo
	echo "| users | scenario | req/s | p50 | p99 | errors |"
	echo "|--:|---|--:|--:|--:|--:|"
	for size in small big; do
		for s in signin introspect; do
			line=${results[$size.$s]}
			awk -v n="$([[ $size == small ]] && echo "$USERS" || echo "$BIG_USERS")" -v s="$s" -v rps="$(field rps "$line")" \
				-v p50="$(field p50_ms "$line")" -v p99="$(field p99_ms "$line")" -v e="$(field errors "$line")" \
				'BEGIN { printf "| %d | %s | %.1f | %.1f ms | %.1f ms | %d |\n", n, s, rps, p50, p99, e }'
		done
	done
fi
