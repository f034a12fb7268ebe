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
# Settings (environment): KAFKA_VERSION (4.4.0), KAFKA_HOST (127.0.0.1),
# KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT + 1), KAFKA_HEAP (1g),
# KAFKA_START_TIMEOUT seconds (120), AUTONAMA_LOCAL_DIR, AUTONAMA_CACHE_DIR.
#
# KAFKA_SASL_USERS="admin:<password>,autonama:<password>" (empty by default: PLAINTEXT on
# loopback) makes the client listener SASL_PLAINTEXT with SCRAM-SHA-256 and ACLs (the
# StandardAuthorizer, nothing allowed without an ACL): the first user is the broker's own
# and the super user, the others are created when the storage is formatted and may do
# what `acl` allows them.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_HOST="${KAFKA_HOST:-127.0.0.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_HEAP="${KAFKA_HEAP:-1g}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
KAFKA_SASL_USERS="${KAFKA_SASL_USERS:-}"

# The jars of this pom (its own checksum in the folder's name: a changed pom resolves anew).
POM="$REPO_ROOT/deploy/local/kafka/pom.xml"
LIBS="$AUTONAMA_CACHE_DIR/kafka-$KAFKA_VERSION-$(sha256sum "$POM" | cut -c1-8)/libs"
HOME_DIR="$AUTONAMA_LOCAL_DIR/kafka"
DATA_DIR="$HOME_DIR/data"
CONFIG="$HOME_DIR/server.properties"
LOG4J="$HOME_DIR/log4j2.properties"
LOG_FILE="$HOME_DIR/kafka.log"
PID_FILE="$HOME_DIR/kafka.pid"
PATTERN="kafka.Kafka $CONFIG"

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

write_config() {
  mkdir -p "$DATA_DIR"
  local listener=PLAINTEXT admin admin_password
  [[ -n $KAFKA_SASL_USERS ]] && listener=SASL_PLAINTEXT
  cat >"$CONFIG" <<PROPS
# Written by deploy/local/kafka.sh; edits are overwritten at the next start.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=$listener://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=$listener://$KAFKA_HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=$listener
listener.security.protocol.map=CONTROLLER:PLAINTEXT,$listener:$listener
log.dirs=$DATA_DIR
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
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
appender.file.type = File
appender.file.name = file
appender.file.fileName = $LOG_FILE
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
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
  local cluster_id
  cluster_id=$(java_cp kafka.tools.StorageTool random-uuid | tail -n 1)
  log "formatting KRaft storage in $DATA_DIR (cluster $cluster_id)"
  local scram=() pair
  while IFS= read -r pair; do
    scram+=(--add-scram "SCRAM-SHA-256=[name=${pair%%:*},password=${pair#*:}]")
  done < <(sasl_users)
  java_cp kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$CONFIG" "${scram[@]}" \
    >>"$LOG_FILE" 2>&1 || die "formatting failed; see $LOG_FILE"
}

acl() {
  local user=${1:?usage: kafka.sh acl USER TOPIC_PREFIX GROUP_PREFIX} topics=${2:?} groups=${3:?}
  [[ -n $KAFKA_SASL_USERS ]] || die "acl: the broker runs without SASL (set KAFKA_SASL_USERS)"
  java_cp org.apache.kafka.tools.AclCommand --bootstrap-server "$KAFKA_HOST:$KAFKA_PORT" \
    --command-config "$HOME_DIR/admin.properties" --add --allow-principal "User:$user" \
    --operation All --resource-pattern-type prefixed --topic "$topics" --group "$groups" \
    >>"$LOG_FILE" 2>&1 || die "acl: AclCommand failed; see $LOG_FILE"
  log "ACL: User:$user may use topics $topics* and groups $groups*"
}

start() {
  if pid_alive "$PID_FILE" "$PATTERN"; then
    log "already running (pid $(<"$PID_FILE")) on $KAFKA_HOST:$KAFKA_PORT"
    return 0
  fi
  if port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    die "port $KAFKA_HOST:$KAFKA_PORT is taken by another process; set KAFKA_PORT"
  fi
  fetch
  write_config
  format_once
  : >"$LOG_FILE.start"
  log "starting Kafka $KAFKA_VERSION on $KAFKA_HOST:$KAFKA_PORT (log: $LOG_FILE)"
  nohup java -Xms256m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J" -cp "$LIBS/*" \
    kafka.Kafka "$CONFIG" >"$LOG_FILE.start" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  local i pid
  pid=$(<"$PID_FILE")
  for ((i = 0; i < KAFKA_START_TIMEOUT * 5; i++)); do
    if ! [[ -d /proc/$pid ]]; then
      tail -n 30 "$LOG_FILE.start" "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE"
      die "Kafka exited during start-up; see $LOG_FILE"
    fi
    # The broker binds its listener late in start-up and logs this line when done.
    if port_open "$KAFKA_HOST" "$KAFKA_PORT" && grep -q "Kafka Server started" "$LOG_FILE" 2>/dev/null; then
      log "ready after $((i / 5)) s (pid $pid)"
      return 0
    fi
    sleep 0.2
  done
  die "Kafka did not answer within $KAFKA_START_TIMEOUT s; see $LOG_FILE"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop_pid "$PID_FILE" "$PATTERN" kafka ;;
  status)
    if pid_alive "$PID_FILE" "$PATTERN"; then
      echo "kafka running (pid $(<"$PID_FILE")) on $KAFKA_HOST:$KAFKA_PORT"
    else
      echo "kafka not running"; exit 1
    fi ;;
  reset) stop_pid "$PID_FILE" "$PATTERN" kafka; rm -rf "$DATA_DIR"; log "data deleted" ;;
  acl) shift; acl "$@" ;;
  *) echo "usage: $0 {fetch|start|stop|status|reset|acl}" >&2; exit 2 ;;
esac
