#!/bin/sh
# docker-compose's Kafka (the official apache/kafka image, KRaft, one node): clients must
# authenticate (SASL_PLAINTEXT with SCRAM-SHA-256 on the compose network) and may do only
# what an ACL allows (the StandardAuthorizer; nothing without an ACL). Two users, created
# when the storage is formatted: admin (the broker's own, the super user) and autonama
# (every Autonama service), which may use the topics 'autonama.*' and the consumer groups
# 'autonama-*' and nothing else. The controller listener (9093) stays on the compose
# network, unpublished. Passwords: KAFKA_ADMIN_PASSWORD, AUTONAMA_KAFKA_PASSWORD.
set -eu
: "${KAFKA_ADMIN_PASSWORD:?set KAFKA_ADMIN_PASSWORD}"
: "${AUTONAMA_KAFKA_PASSWORD:?set AUTONAMA_KAFKA_PASSWORD}"
bin=/opt/kafka/bin
data=/var/lib/kafka/data
cfg=/tmp/server.properties
admin=/tmp/admin.properties
jaas="org.apache.kafka.common.security.scram.ScramLoginModule required"
cat >"$cfg" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@kafka:9093
listeners=SASL_PLAINTEXT://:9092,CONTROLLER://:9093
advertised.listeners=SASL_PLAINTEXT://kafka:9092
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
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
cat >"$admin" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-256
sasl.jaas.config=$jaas username="admin" password="$KAFKA_ADMIN_PASSWORD";
PROPS
chmod 600 "$cfg" "$admin"
if [ ! -f "$data/meta.properties" ]; then
  "$bin/kafka-storage.sh" format -t "$("$bin/kafka-storage.sh" random-uuid)" -c "$cfg" \
    --add-scram "SCRAM-SHA-256=[name=admin,password=$KAFKA_ADMIN_PASSWORD]" \
    --add-scram "SCRAM-SHA-256=[name=autonama,password=$AUTONAMA_KAFKA_PASSWORD]"
fi
# The ACL of the services' user, once the broker answers (idempotent: an ACL added twice
# is one ACL). The healthcheck waits for it.
(
  until "$bin/kafka-acls.sh" --bootstrap-server localhost:9092 --command-config "$admin" \
    --add --allow-principal User:autonama --operation All --resource-pattern-type prefixed \
    --topic autonama. --group autonama- >/dev/null 2>&1; do sleep 2; done
  touch /tmp/acls-ready
) &
exec "$bin/kafka-server-start.sh" "$cfg"
