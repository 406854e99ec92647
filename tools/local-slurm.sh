#!/usr/bin/env bash
# A single-node SLURM on this machine, with job accounting as real clusters have it, for trying and
# testing profiles/slurm (tests/test_slurm.py):
#   sudo tools/local-slurm.sh start     installs (Debian: slurm-wlm, munge, slurmdbd, mariadb-server) if
#                                       missing, writes the configs under /etc/slurm, starts munged,
#                                       MariaDB, slurmdbd, slurmctld, slurmd; waits until the node is idle
#   sudo tools/local-slurm.sh start-no-accounting
#                                       the same without slurmdbd (AccountingStorageType=none: sacct
#                                       cannot answer), as small clusters have it; restarts slurmctld
#   sudo tools/local-slurm.sh stop      stops the daemons it started (by their pid files)
#   tools/local-slurm.sh status         sinfo and the accounting cluster
# One partition 'debug' (the default) with this machine as its node: all its CPUs, its memory less 1 GB.
set -euo pipefail

CLUSTER=gtalker
PARTITION=debug
STATE=/var/lib/gtalker-slurm
RUN=/run/gtalker-slurm
DB_PASS=gtalker-local-only
NODE=$(hostname -s)

need_root() { [ "$(id -u)" = 0 ] || { echo "run as root (sudo $0 $1)" >&2; exit 1; }; }

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurm-wlm)
    command -v munged >/dev/null || missing+=(munge)
    command -v slurmdbd >/dev/null || missing+=(slurmdbd)
    command -v mariadbd >/dev/null || command -v mysqld >/dev/null || missing+=(mariadb-server)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

ACCOUNTING=slurmdbd

accounting_lines() {
    if [ "$ACCOUNTING" = slurmdbd ]; then
        printf 'AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost\n'
        printf 'AccountingStorageTRES=cpu,mem,gres/gpu\n'
    else
        printf 'AccountingStorageType=accounting_storage/none\n'
    fi
}

restart_ctld() {  # the accounting storage type is read at start only
    if [ -f "$RUN/slurmctld.pid" ] && kill -0 "$(cat "$RUN/slurmctld.pid")" 2>/dev/null; then
        kill "$(cat "$RUN/slurmctld.pid")"
        for _ in $(seq 30); do kill -0 "$(cat "$RUN/slurmctld.pid")" 2>/dev/null || break; sleep 1; done
        rm -f "$RUN/slurmctld.pid"
    fi
}

write_configs() {
    local cpus mem_mb
    cpus=$(nproc)
    mem_mb=$(( $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) - 1024 ))
    mkdir -p /etc/slurm "$STATE"/{ctld,d,dbd} "$RUN" /var/log/slurm
    chown -R slurm:slurm "$STATE" "$RUN" /var/log/slurm
    cat > /etc/slurm/slurm.conf <<CONF
# Written by tools/local-slurm.sh: a one-node cluster for testing profiles/slurm.
ClusterName=$CLUSTER
SlurmctldHost=$NODE
AuthType=auth/munge
SlurmUser=slurm
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Jobs asking for more than a node of their partition has are refused at submission, not left pending.
EnforcePartLimits=ALL
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
$(accounting_lines)
# sacct shows the comment Snakemake's SLURM plugin gives each job (rule_<name>_wildcards_...).
AccountingStoreFlags=job_comment
MinJobAge=300
NodeName=$NODE CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
    cat > /etc/slurm/slurmdbd.conf <<CONF
# Written by tools/local-slurm.sh
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=$RUN/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
CONF
    chown slurm:slurm /etc/slurm/slurmdbd.conf
    chmod 600 /etc/slurm/slurmdbd.conf
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local limit=$1 what=$2
    shift 2
    for _ in $(seq "$limit"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 1
    done
    echo "timed out waiting for $what" >&2
    return 1
}

start() {
    need_root start
    install_packages
    write_configs
    # munge: key from the package; one daemon
    if ! munge -n >/dev/null 2>&1; then
        mkdir -p /run/munge && chown munge:munge /run/munge
        runuser -u munge -- /usr/sbin/munged
        wait_for 20 munged munge -n
    fi
    if [ "$ACCOUNTING" = slurmdbd ]; then
        start_accounting
    fi
    if [ -f "$RUN/slurmctld.pid" ] && kill -0 "$(cat "$RUN/slurmctld.pid")" 2>/dev/null; then
        scontrol reconfigure  # already running: read the config written above
    else
        slurmctld
    fi
    wait_for 60 slurmctld scontrol ping
    [ -f "$RUN/slurmd.pid" ] && kill -0 "$(cat "$RUN/slurmd.pid")" 2>/dev/null || slurmd
    wait_for 60 "node $NODE idle" sh -c "sinfo -h -n $NODE -o %t | grep -qE '^(idle|mix|alloc)'"
    status
}

start_accounting() {
    # MariaDB with the accounting database and its user
    if ! mysqladmin ping >/dev/null 2>&1; then
        mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
        (mysqld_safe --pid-file=/run/mysqld/mysqld.pid >/dev/null 2>&1 &)
        wait_for 60 MariaDB mysqladmin ping
    fi
    mysql -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
              CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
    [ -f "$RUN/slurmdbd.pid" ] && kill -0 "$(cat "$RUN/slurmdbd.pid")" 2>/dev/null || slurmdbd
    wait_for 60 slurmdbd sacctmgr -n list cluster
    sacctmgr -i -Q add cluster "$CLUSTER" >/dev/null 2>&1 || true
    sacctmgr -i -Q add account "$CLUSTER" Cluster="$CLUSTER" Description=local Organization=local >/dev/null 2>&1 || true
    for user in root ${SUDO_USER:-} $(logname 2>/dev/null || true); do
        sacctmgr -i -Q add user "$user" Account="$CLUSTER" Cluster="$CLUSTER" >/dev/null 2>&1 || true
    done
}

stop() {
    need_root stop
    for daemon in slurmd slurmctld slurmdbd; do
        if [ -f "$RUN/$daemon.pid" ]; then
            kill "$(cat "$RUN/$daemon.pid")" 2>/dev/null || true
            rm -f "$RUN/$daemon.pid"
        fi
    done
    [ -f /run/mysqld/mysqld.pid ] && mysqladmin shutdown 2>/dev/null || true
    [ -f /run/munge/munged.pid ] && kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
    echo "stopped"
}

status() {
    sinfo -o "%P %a %D %c %m %G %l %t %N"
    scontrol show config | grep -E '^AccountingStorageType'
    sacctmgr -n list cluster format=cluster,controlhost 2>/dev/null || echo "no accounting (slurmdbd not answering)"
}

case "${1:-}" in
    start)
        if grep -q "accounting_storage/none" /etc/slurm/slurm.conf 2>/dev/null; then restart_ctld; fi
        start ;;
    start-no-accounting) ACCOUNTING=none; need_root start; restart_ctld; start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
