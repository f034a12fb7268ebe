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
#
# Settings (environment): KAFKA_VERSION (4.4.0), KAFKA_HOST (127.0.0.1),
# KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT + 1), KAFKA_HEAP (1g),
# KAFKA_START_TIMEOUT seconds (120), AUTONAMA_LOCAL_DIR, AUTONAMA_CACHE_DIR.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_HOST="${KAFKA_HOST:-127.0.0.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_HEAP="${KAFKA_HEAP:-1g}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"

LIBS="$AUTONAMA_CACHE_DIR/kafka-$KAFKA_VERSION/libs"
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
  mvn -B -q -Dstyle.color=never -f "$REPO_ROOT/deploy/local/kafka/pom.xml" dependency:copy-dependencies \
    -Dkafka.version="$KAFKA_VERSION" -DincludeScope=runtime -DoutputDirectory="$LIBS.tmp" >&2 \
    || die "Maven could not resolve Kafka $KAFKA_VERSION (set KAFKA_VERSION to another 4.x release?)"
  ls "$LIBS.tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null || die "kafka_2.13-$KAFKA_VERSION.jar missing after resolve"
  rm -rf "$LIBS" && mv "$LIBS.tmp" "$LIBS" && touch "$LIBS/.complete"
}

java_cp() { java -Xmx256m -cp "$LIBS/*" -Dlog4j2.configurationFile="$LOG4J" "$@"; }

write_config() {
  mkdir -p "$DATA_DIR"
  cat >"$CONFIG" <<PROPS
# Written by deploy/local/kafka.sh; edits are overwritten at the next start.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
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
  java_cp kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$CONFIG" >>"$LOG_FILE" 2>&1 \
    || die "formatting failed; see $LOG_FILE"
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
  *) echo "usage: $0 {fetch|start|stop|status|reset}" >&2; exit 2 ;;
esac
