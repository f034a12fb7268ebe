#!/bin/sh
# docker-compose's Kafka (the official apache/kafka image, KRaft): one node, or node
# KAFKA_NODE_ID of a cluster of KAFKA_BROKERS combined broker-controller nodes named kafka,
# kafka-2, kafka-3 (the compose profile `cluster`: a static quorum of the three, the
# cluster's internal topics replicated three times with min.insync.replicas=2, every node
# formatted with the same KAFKA_CLUSTER_ID and the same users). Clients must
# authenticate (SASL_PLAINTEXT with SCRAM-SHA-256 on the compose network) and may do only
# what an ACL allows (the StandardAuthorizer; nothing without an ACL). Two users, created
# when the storage is formatted: admin (the broker's own, the super user) and autonama
# (every Autonama service), which may use the topics 'autonama.*' and the consumer groups
# 'autonama-*' and nothing else. The controller listener (9093) stays on the compose
# network, unpublished. Passwords: KAFKA_ADMIN_PASSWORD, AUTONAMA_KAFKA_PASSWORD.
set -eu
: "${KAFKA_ADMIN_PASSWORD:?set KAFKA_ADMIN_PASSWORD}"
: "${AUTONAMA_KAFKA_PASSWORD:?set AUTONAMA_KAFKA_PASSWORD}"
bin="${KAFKA_BIN:-/opt/kafka/bin}"  # the image's (other values: the tests)
data="${KAFKA_DATA:-/var/lib/kafka/data}"
etc="${KAFKA_CONF_DIR:-/tmp}"
cfg="$etc/server.properties"
admin="$etc/admin.properties"
jaas="org.apache.kafka.common.security.scram.ScramLoginModule required"
node="${KAFKA_NODE_ID:-1}"
brokers="${KAFKA_BROKERS:-1}"
case "$brokers:$node" in
  1:1 | 3:[123]) ;;
  *) echo "KAFKA_BROKERS=$brokers, KAFKA_NODE_ID=$node: one node (1) or node 1-3 of three" >&2; exit 2 ;;
esac
name_of() { if [ "$1" = 1 ]; then echo kafka; else echo "kafka-$1"; fi; }
voters=""
i=1
while [ "$i" -le "$brokers" ]; do
  voters="${voters:+$voters,}$i@$(name_of "$i"):9093"
  i=$((i + 1))
done
if [ "$brokers" = 3 ]; then isr=2; else isr=1; fi
cat >"$cfg" <<PROPS
process.roles=broker,controller
node.id=$node
controller.quorum.voters=$voters
listeners=SASL_PLAINTEXT://:9092,CONTROLLER://:9093
advertised.listeners=SASL_PLAINTEXT://$(name_of "$node"):9092
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-256
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=$jaas username="admin" password="$KAFKA_ADMIN_PASSWORD";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:ANONYMOUS
allow.everyone.if.no.acl.found=false
log.dirs=$data
auto.create.topics.enable=false
offsets.topic.replication.factor=$brokers
transaction.state.log.replication.factor=$brokers
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$brokers
share.coordinator.state.topic.min.isr=$isr
min.insync.replicas=$isr
group.initial.rebalance.delay.ms=0
PROPS
cat >"$admin" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-256
sasl.jaas.config=$jaas username="admin" password="$KAFKA_ADMIN_PASSWORD";
PROPS
chmod 600 "$cfg" "$admin"
if [ ! -f "$data/meta.properties" ]; then
  "$bin/kafka-storage.sh" format -t "${KAFKA_CLUSTER_ID:?set KAFKA_CLUSTER_ID}" -c "$cfg" \
    --add-scram "SCRAM-SHA-256=[name=admin,password=$KAFKA_ADMIN_PASSWORD]" \
    --add-scram "SCRAM-SHA-256=[name=autonama,password=$AUTONAMA_KAFKA_PASSWORD]"
fi
# The ACL of the services' user, once the broker answers (idempotent: an ACL added twice
# is one ACL). The healthcheck waits for it.
(
  until "$bin/kafka-acls.sh" --bootstrap-server localhost:9092 --command-config "$admin" \
    --add --allow-principal User:autonama --operation All --resource-pattern-type prefixed \
    --topic autonama. --group autonama- >/dev/null 2>&1; do sleep 2; done
  touch "$etc/acls-ready"
) &
exec "$bin/kafka-server-start.sh" "$cfg"
