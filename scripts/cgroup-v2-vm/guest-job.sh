#!/bin/sh
# The job of one cgroup-v2 VM run (see ./run), executed inside the guest by the host's
# /bin/sh once init has set the machine up. $1 is the job directory (9p share) holding:
#   env       shell assignments for the tests' environment (RUST_*, DROVER_*)
#   tests.sh  calls of run_test NAME DIR BINARY ARGS..., or of run_sh NAME DIR SCRIPT
#   binds     lines SNAPSHOT<tab>PATH: the binaries frozen at job time (9p share `snap`,
#             read-only) to bind over their paths in the host's tree
#   net       (--net) the loopback ports to forward to the host (10.0.2.2), with
#             forward.py and testenv/env (the test environment's settings)
# and receiving:
#   out.N     the output of the Nth test binary (also streamed to the serial console)
#   results   one line per binary: EXIT_STATUS SECONDS NAME
#   status    0 if the layout is pure cgroup v2 and every binary passed, else non-zero
# shellcheck disable=SC2317 # run_test and run_sh are called from the sourced tests.sh
set -u
job=$1
n=0
failed=0

say() { echo "==== [drover-vm] $*"; }

# A pure v2 hierarchy, or nothing runs.
check_v2() {
    fstype=$(stat -fc %T /sys/fs/cgroup)
    controllers=$(cat /sys/fs/cgroup/cgroup.controllers)
    say "kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB"
    say "stat -fc %T /sys/fs/cgroup: $fstype"
    say "cgroup.controllers: $controllers"
    say "cgroup.subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
    say "PID 1 cgroup: $(cat /proc/1/cgroup)"
    if [ "$fstype" != cgroup2fs ] && [ "$fstype" != cgroup2 ]; then
        say "FATAL: /sys/fs/cgroup is $fstype, not cgroup2"
        return 1
    fi
    if grep -q ' cgroup ' /proc/mounts; then
        say "FATAL: cgroup v1 hierarchies are mounted:"
        grep ' cgroup ' /proc/mounts
        return 1
    fi
    for c in cpuset cpu io memory pids; do
        case " $controllers " in
            *" $c "*) ;;
            *) say "FATAL: controller $c missing from the root"; return 1 ;;
        esac
    done
    say "pure cgroup v2: ok"
}

# run_test NAME DIR BINARY [ARGS...]: runs a test binary from DIR, records its status.
run_test() {
    name=$1 dir=$2
    shift 2
    n=$((n + 1))
    say "run $n: $name: $* (in $dir)"
    start=$(date +%s)
    {
        (cd "$dir" 2>/dev/null || cd /; exec "$@") 2>&1
        echo $? >"$job/rc.$n"
    } | tee "$job/out.$n"
    rc=$(cat "$job/rc.$n" 2>/dev/null || echo 255)
    secs=$(($(date +%s) - start))
    echo "$rc $secs $name" >>"$job/results"
    say "run $n: $name: exit status $rc after ${secs}s"
    [ "$rc" = 0 ] || failed=1
}

# run_sh NAME DIR SCRIPT: a shell command instead of a test binary (debugging).
run_sh() {
    name=$1 dir=$2 script=$3
    run_test "$name" "$dir" /bin/sh -c "$script"
}

# --net: init configured the NIC; serve the host's loopback ports on the guest's loopback
# (drover allows plain HTTP only to loopback registries, and the tests' references name
# 127.0.0.1:PORT).
forwarder=""
start_forwarder() {
    ports=$(cat "$job/net")
    say "network: $(ip -o -4 addr show scope global | awk '{print $2, $4}'), $(ip route show default)"
    [ -n "$ports" ] || return 0
    rm -f "$job/forward.ready"
    # shellcheck disable=SC2086 # a list of port numbers
    python3 "$job/forward.py" --ready "$job/forward.ready" 127.0.0.1 10.0.2.2 $ports &
    forwarder=$!
    i=0
    while [ ! -s "$job/forward.ready" ]; do
        if ! kill -0 "$forwarder" 2>/dev/null || [ "$i" -ge 600 ]; then
            say "FATAL: the forwarder (127.0.0.1 -> 10.0.2.2, ports $ports) did not start"
            return 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
    say "forwarding 127.0.0.1 -> 10.0.2.2: ports $ports (ready after $((i / 10)).$((i % 10))s)"
}

# The binaries as they were built, whatever happens to the host's target/ meanwhile.
bind_snapshots() {
    [ -s "$job/binds" ] || return 0
    mkdir -p /run/drover-snap
    if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose snap /run/drover-snap; then
        say "FATAL: cannot mount the snapshot share"
        return 1
    fi
    tab=$(printf '\t')
    while IFS=$tab read -r snap path; do
        if ! mount --bind "/run/drover-snap/$snap" "$path"; then
            say "FATAL: cannot bind the snapshot of $path"
            return 1
        fi
    done <"$job/binds"
}

if ! check_v2; then
    echo 2 >"$job/status"
    exit 2
fi
if ! bind_snapshots; then
    echo 1 >"$job/status"
    exit 1
fi
if [ -f "$job/net" ] && ! start_forwarder; then
    echo 1 >"$job/status"
    exit 1
fi
# shellcheck source=/dev/null
[ -f "$job/env" ] && . "$job/env"
# shellcheck source=/dev/null
. "$job/tests.sh"
if [ -n "$forwarder" ]; then
    kill "$forwarder" 2>/dev/null
    wait "$forwarder" 2>/dev/null
fi
echo "$failed" >"$job/status"
exit "$failed"
