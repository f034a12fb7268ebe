#!/usr/bin/env bash
# A real Apache Kafka 4.x broker in KRaft mode (combined broker + controller,
# one node), without Docker: the jars are resolved from Maven Central with
# Maven (kafka/pom.xml) and run on the machine's Java 17.
#
#   deploy/local/kafka.sh fetch     resolve the jars into the cache
#   deploy/local/kafka.sh start     fetch if needed, format once, start, wait until it answers
#   deploy/local/kafka.sh stop      stop it cleanly (SIGTERM, then SIGKILL after 60 s)
#   deploy/local/kafka.sh status    exit 0 when running
#   deploy/local/kafka.sh reset     stop and delete its data (topics and offsets)
#   deploy/local/kafka.sh acl USER TOPIC_PREFIX GROUP_PREFIX
#                                   (SASL only) allow USER every operation on the topics
#                                   and consumer groups with these prefixes, nothing else
#
#   deploy/local/kafka.sh bootstrap print the bootstrap servers (host:port,...)
#
# Settings (environment): KAFKA_VERSION (4.4.0), KAFKA_HOST (127.0.0.1),
# KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT + 1), KAFKA_HEAP (1g),
# KAFKA_START_TIMEOUT seconds (120), AUTONAMA_LOCAL_DIR, AUTONAMA_CACHE_DIR.
#
# KAFKA_BROKERS=3 (1 by default) starts a cluster instead: three combined broker +
# controller nodes on loopback, a static quorum of the three as voters (combined nodes: one
# process per node is what a laptop can hold; separate controllers would be six JVMs), in
# AUTONAMA_LOCAL_DIR/kafka-cluster/nodeN, client ports KAFKA_PORTS (19092,19094,19096 by
# default) and controller ports KAFKA_CONTROLLER_PORTS (19093,19095,19097); internal topics
# replicated three times with min.insync.replicas=2. For broker faults:
#   deploy/local/kafka.sh kill N    SIGKILL node N (1-based) at once
#   deploy/local/kafka.sh stop N    stop node N cleanly
#   deploy/local/kafka.sh start N   start node N (the others keep running)
#
# KAFKA_SASL_USERS="admin:<password>,autonama:<password>" (empty by default: PLAINTEXT on
# loopback) makes the client listener SASL_PLAINTEXT with SCRAM-SHA-256 and ACLs (the
# StandardAuthorizer, nothing allowed without an ACL): the first user is the broker's own
# and the super user, the others are created when the storage is formatted and may do
# what `acl` allows them.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_HOST="${KAFKA_HOST:-127.0.0.1}"
KAFKA_BROKERS="${KAFKA_BROKERS:-1}"
[[ $KAFKA_BROKERS =~ ^[1-9]$ ]] || die "KAFKA_BROKERS must be a number of brokers from 1 to 9"
if ((KAFKA_BROKERS == 1)); then
  KAFKA_PORT="${KAFKA_PORT:-9092}"
  KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
  KAFKA_PORTS="$KAFKA_PORT"
  KAFKA_CONTROLLER_PORTS="$KAFKA_CONTROLLER_PORT"
  HOME_DIR="$AUTONAMA_LOCAL_DIR/kafka"
else
  KAFKA_PORTS="${KAFKA_PORTS:-$(seq -s, 19092 2 $((19090 + 2 * KAFKA_BROKERS)))}"
  KAFKA_CONTROLLER_PORTS="${KAFKA_CONTROLLER_PORTS:-$(seq -s, 19093 2 $((19091 + 2 * KAFKA_BROKERS)))}"
  HOME_DIR="$AUTONAMA_LOCAL_DIR/kafka-cluster"
fi
IFS=, read -r -a PORTS <<<"$KAFKA_PORTS"
IFS=, read -r -a CONTROLLER_PORTS <<<"$KAFKA_CONTROLLER_PORTS"
((${#PORTS[@]} == KAFKA_BROKERS && ${#CONTROLLER_PORTS[@]} == KAFKA_BROKERS)) \
  || die "KAFKA_PORTS and KAFKA_CONTROLLER_PORTS need $KAFKA_BROKERS ports each"
KAFKA_HEAP="${KAFKA_HEAP:-1g}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
KAFKA_SASL_USERS="${KAFKA_SASL_USERS:-}"
if ((KAFKA_BROKERS > 1)) && [[ -n $KAFKA_SASL_USERS ]]; then
  die "KAFKA_SASL_USERS is for one broker (the cluster runs PLAINTEXT on loopback)"
fi
# Replicas of every partition (internal topics included) and the fewest that must have a
# write before it is acknowledged (acks=all).
REPLICAS=$((KAFKA_BROKERS < 3 ? KAFKA_BROKERS : 3))
MIN_ISR=$((REPLICAS > 1 ? REPLICAS - 1 : 1))

# The jars of this pom (its own checksum in the folder's name: a changed pom resolves anew).
POM="$REPO_ROOT/deploy/local/kafka/pom.xml"
LIBS="$AUTONAMA_CACHE_DIR/kafka-$KAFKA_VERSION-$(sha256sum "$POM" | cut -c1-8)/libs"

# node N: its folder, files and ports (N from 1; one broker keeps the historical layout).
node() {
  local n=$1 dir
  if ((KAFKA_BROKERS == 1)); then dir="$HOME_DIR"; else dir="$HOME_DIR/node$n"; fi
  NODE=$n
  PORT=${PORTS[n - 1]}
  CONTROLLER_PORT=${CONTROLLER_PORTS[n - 1]}
  DATA_DIR="$dir/data"
  CONFIG="$dir/server.properties"
  LOG4J="$dir/log4j2.properties"
  LOG_FILE="$dir/kafka.log"
  PID_FILE="$dir/kafka.pid"
  PATTERN="kafka.Kafka $CONFIG"
}
node 1

fetch() {
  if [[ -f $LIBS/.complete ]]; then return 0; fi
  command -v mvn >/dev/null || die "Maven (mvn) is required to fetch Kafka: apt-get install maven"
  command -v java >/dev/null || die "Java 17+ is required to run Kafka: apt-get install openjdk-17-jre-headless"
  log "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central into $LIBS"
  rm -rf "$LIBS.tmp"
  mvn -B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
    -Dkafka.version="$KAFKA_VERSION" -DincludeScope=runtime -DoutputDirectory="$LIBS.tmp" >&2 \
    || die "Maven could not resolve Kafka $KAFKA_VERSION (set KAFKA_VERSION to another 4.x release?)"
  ls "$LIBS.tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null || die "kafka_2.13-$KAFKA_VERSION.jar missing after resolve"
  rm -rf "$LIBS" && mv "$LIBS.tmp" "$LIBS" && touch "$LIBS/.complete"
}

java_cp() { java -Xmx256m -cp "$LIBS/*" -Dlog4j2.configurationFile="$LOG4J" "$@"; }

# user:password pairs of KAFKA_SASL_USERS, one a line
sasl_users() { tr ',' '\n' <<<"$KAFKA_SASL_USERS" | sed '/^$/d'; }

# One broker: a dynamic quorum of itself (formatted --standalone). A cluster: a static
# quorum, every node a voter (each formatted with the cluster's one id).
quorum() {
  if ((KAFKA_BROKERS == 1)); then
    echo "controller.quorum.bootstrap.servers=$KAFKA_HOST:$CONTROLLER_PORT"
  else
    local voters=() i
    for ((i = 1; i <= KAFKA_BROKERS; i++)); do
      voters+=("$i@$KAFKA_HOST:${CONTROLLER_PORTS[i - 1]}")
    done
    echo "controller.quorum.voters=$(IFS=,; echo "${voters[*]}")"
  fi
}

write_config() {
  mkdir -p "$DATA_DIR"
  local listener=PLAINTEXT admin admin_password
  [[ -n $KAFKA_SASL_USERS ]] && listener=SASL_PLAINTEXT
  cat >"$CONFIG" <<PROPS
# Written by deploy/local/kafka.sh; edits are overwritten at the next start.
process.roles=broker,controller
node.id=$NODE
$(quorum)
listeners=$listener://$KAFKA_HOST:$PORT,CONTROLLER://$KAFKA_HOST:$CONTROLLER_PORT
advertised.listeners=$listener://$KAFKA_HOST:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=$listener
listener.security.protocol.map=CONTROLLER:PLAINTEXT,$listener:$listener
log.dirs=$DATA_DIR
num.partitions=1
auto.create.topics.enable=false
default.replication.factor=$REPLICAS
min.insync.replicas=$MIN_ISR
offsets.topic.replication.factor=$REPLICAS
offsets.topic.num.partitions=10
share.coordinator.state.topic.replication.factor=$REPLICAS
share.coordinator.state.topic.min.isr=$MIN_ISR
transaction.state.log.replication.factor=$REPLICAS
transaction.state.log.min.isr=$MIN_ISR
group.initial.rebalance.delay.ms=0
log.retention.hours=168
PROPS
  if [[ -n $KAFKA_SASL_USERS ]]; then
    admin=$(sasl_users | head -n 1 | cut -d: -f1)
    admin_password=$(sasl_users | head -n 1 | cut -d: -f2-)
    # (the controller's own listener stays PLAINTEXT on loopback: its principal is ANONYMOUS)
    cat >>"$CONFIG" <<PROPS
sasl.enabled.mechanisms=SCRAM-SHA-256
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$admin" password="$admin_password";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:$admin;User:ANONYMOUS
allow.everyone.if.no.acl.found=false
PROPS
    chmod 600 "$CONFIG"
    (umask 077 && cat >"$HOME_DIR/admin.properties" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-256
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$admin" password="$admin_password";
PROPS
    )
  fi
  cat >"$LOG4J" <<PROPS
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = $LOG_FILE
appender.file.filePattern = $LOG_FILE.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
PROPS
}

format_once() {
  [[ -f $DATA_DIR/meta.properties ]] && return 0
  local cluster_id standalone=(--standalone)
  if ((KAFKA_BROKERS > 1)); then
    standalone=()
    [[ -s $HOME_DIR/cluster.id ]] \
      || java_cp kafka.tools.StorageTool random-uuid | tail -n 1 >"$HOME_DIR/cluster.id"
    cluster_id=$(<"$HOME_DIR/cluster.id")
  else
    cluster_id=$(java_cp kafka.tools.StorageTool random-uuid | tail -n 1)
  fi
  log "formatting KRaft storage in $DATA_DIR (cluster $cluster_id)"
  local scram=() pair
  while IFS= read -r pair; do
    scram+=(--add-scram "SCRAM-SHA-256=[name=${pair%%:*},password=${pair#*:}]")
  done < <(sasl_users)
  java_cp kafka.tools.StorageTool format "${standalone[@]}" -t "$cluster_id" -c "$CONFIG" \
    "${scram[@]}" \
    >>"$LOG_FILE" 2>&1 || die "formatting failed; see $LOG_FILE"
}

acl() {
  local user=${1:?usage: kafka.sh acl USER TOPIC_PREFIX GROUP_PREFIX} topics=${2:?} groups=${3:?}
  [[ -n $KAFKA_SASL_USERS ]] || die "acl: the broker runs without SASL (set KAFKA_SASL_USERS)"
  java_cp org.apache.kafka.tools.AclCommand --bootstrap-server "$KAFKA_HOST:$PORT" \
    --command-config "$HOME_DIR/admin.properties" --add --allow-principal "User:$user" \
    --operation All --resource-pattern-type prefixed --topic "$topics" --group "$groups" \
    >>"$LOG_FILE" 2>&1 || die "acl: AclCommand failed; see $LOG_FILE"
  log "ACL: User:$user may use topics $topics* and groups $groups*"
}

# launch: start the current node (``node N``) unless it runs; WAITING gets its pid and
# the length of its log, to wait on.
launch() {
  if pid_alive "$PID_FILE" "$PATTERN"; then
    log "$(name) already running (pid $(<"$PID_FILE")) on $KAFKA_HOST:$PORT"
    return 0
  fi
  local i
  for ((i = 0; i < 50; i++)); do  # a process ending may still hold it (10 s)
    port_open "$KAFKA_HOST" "$PORT" || break
    sleep 0.2
  done
  if port_open "$KAFKA_HOST" "$PORT"; then
    die "port $KAFKA_HOST:$PORT is taken by another process ($(port_holder "$PORT")); set KAFKA_PORT(S)"
  fi
  write_config
  format_once
  : >"$LOG_FILE.start"
  touch "$LOG_FILE"
  local seen  # the log's size in bytes: what it said before this start
  seen=$(stat -c %s "$LOG_FILE")
  log "starting $(name) $KAFKA_VERSION on $KAFKA_HOST:$PORT (log: $LOG_FILE)"
  nohup java -Xms256m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J" -cp "$LIBS/*" \
    kafka.Kafka "$CONFIG" >"$LOG_FILE.start" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  WAITING+=("$NODE:$!:$seen")
}

# said_since OFFSET TEXT: the node's log holds TEXT after byte OFFSET (from its start if
# it was rolled over since). Not "tail | grep -q": grep leaving at the first match ends tail
# by SIGPIPE, which pipefail makes a failure whenever the broker logs on after the line (a
# broker loading thousands of partitions did, and its start was taken for a hang).
said_since() {
  local size
  size=$(stat -c %s "$LOG_FILE" 2>/dev/null) || return 1
  ((size >= $1)) || set -- 0 "$2"
  grep -q -F "$2" < <(tail -c +"$(($1 + 1))" "$LOG_FILE" 2>/dev/null)
}

# wait_ready N PID SEEN: until node N (pid PID) has logged that it started since byte SEEN.
wait_ready() {
  node "$1"
  local pid=$2 seen=$3 i
  for ((i = 0; i < KAFKA_START_TIMEOUT * 5; i++)); do
    if ! [[ -d /proc/$pid ]]; then
      tail -n 30 "$LOG_FILE.start" "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE"
      die "Kafka node $NODE exited during start-up; see $LOG_FILE"
    fi
    # The broker binds its listener late in start-up and logs this line when done.
    if port_open "$KAFKA_HOST" "$PORT" && said_since "$seen" "Kafka Server started"; then
      log "$(name) ready after $((i / 5)) s (pid $pid)"
      return 0
    fi
    sleep 0.2
  done
  die "Kafka node $NODE did not answer within $KAFKA_START_TIMEOUT s; see $LOG_FILE"
}

# start [N]: every node (a cluster's nodes at once: a quorum needs a majority to start),
# or node N only.
start() {
  fetch
  WAITING=()
  local n w
  for n in $(nodes "$@"); do node "$n"; launch; done
  for w in "${WAITING[@]}"; do wait_ready "${w%%:*}" "$(cut -d: -f2 <<<"$w")" "${w##*:}"; done
}

# nodes [N]: the node numbers a command is for (all, or N checked).
nodes() {
  if (($# == 0)); then seq 1 "$KAFKA_BROKERS"; return; fi
  [[ $1 =~ ^[1-9]$ ]] && (($1 <= KAFKA_BROKERS)) || die "no node $1 (KAFKA_BROKERS=$KAFKA_BROKERS)"
  echo "$1"
}

# The current node's name in messages: "kafka" alone, "kafka node N" in a cluster.
name() { if ((KAFKA_BROKERS == 1)); then echo kafka; else echo "kafka node $NODE"; fi; }

# stop [N]: every node (a cluster's all told at once: the last one left alone would wait
# for a quorum to hear of its shutdown), or node N only.
stop() {
  local n
  if (($# == 0)) && ((KAFKA_BROKERS > 1)); then
    for n in $(nodes); do
      node "$n"
      if pid_alive "$PID_FILE" "$PATTERN"; then kill -TERM "$(<"$PID_FILE")" 2>/dev/null || true; fi
    done
  fi
  for n in $(nodes "$@"); do node "$n"; stop_pid "$PID_FILE" "$PATTERN" "$(name)"; done
}

bootstrap() {
  local out=() p
  for p in "${PORTS[@]}"; do out+=("$KAFKA_HOST:$p"); done
  (IFS=,; echo "${out[*]}")
}

cmd=${1:-}
shift || true
case "$cmd" in
  fetch) fetch ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  kill)
    for n in $(nodes "${1:?usage: kafka.sh kill N}"); do
      node "$n"
      if pid_alive "$PID_FILE" "$PATTERN"; then
        pid=$(<"$PID_FILE")
        kill -KILL "$pid"
        wait_exited "$pid" "$(name)"  # its port free: a start right after finds it so
        log "node $n killed (SIGKILL)"
      fi
    done ;;
  status)
    rc=0
    for n in $(nodes "$@"); do
      node "$n"
      if pid_alive "$PID_FILE" "$PATTERN"; then
        echo "$(name) running (pid $(<"$PID_FILE")) on $KAFKA_HOST:$PORT"
      else
        echo "$(name) not running"; rc=1
      fi
    done
    exit "$rc" ;;
  reset)
    for n in $(nodes); do
      node "$n"; stop_pid "$PID_FILE" "$PATTERN" "$(name)"; rm -rf "$DATA_DIR"
    done
    rm -f "$HOME_DIR/cluster.id"
    log "data deleted" ;;
  bootstrap) bootstrap ;;
  acl) acl "$@" ;;
  *) echo "usage: $0 {fetch|start [N]|stop [N]|kill N|status [N]|reset|bootstrap|acl}" >&2; exit 2 ;;
esac
