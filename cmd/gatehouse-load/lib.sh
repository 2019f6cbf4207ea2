# lib.sh: what compare.sh and replicas.sh share. Sourced, not run.

# say prints a message to stderr, with the script's name.
say() { echo "${0##*/}: $*" >&2; }

die() {
	say "$*"
	exit 1
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# free_port is a loopback port nothing listens on.
free_port() {
	local port
	for _ in $(seq 50); do
		port=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
	die "no free port found"
}

# field KEY LINE is KEY's value in a summary line.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

# wait_for URL PID LOG waits until URL answers 200, or PID exits.
wait_for() {
	local url=$1 pid=$2 log=$3
	for _ in $(seq 300); do
		if curl -sf -o /dev/null "$url"; then
			return
		fi
		kill -0 "$pid" 2>/dev/null || {
			cat "$log" >&2
			die "the process logging to $log exited at start-up"
		}
		sleep 0.1
	done
	cat "$log" >&2
	die "$url did not answer within 30 s"
}
