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
