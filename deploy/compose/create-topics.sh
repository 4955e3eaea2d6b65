#!/usr/bin/env bash
# kafka-init (docker-compose.yml): creates every topic listed in topics.tsv, then exits 0.
#
# topics.tsv is caisse_contracts.topics.all_topics() written out (name, partitions, configs); the broker
# has auto-creation disabled, so the services only start once this has succeeded. Idempotent: a topic that
# already exists keeps its partitions and gets its configs re-applied, so a changed retention lands too.
#
# Environment: BOOTSTRAP_SERVERS (kafka:9092), TOPICS_FILE (/caisse/topics.tsv), REPLICATION_FACTOR (1),
# KAFKA_BIN (/opt/kafka/bin, where the apache/kafka image keeps kafka-topics.sh and kafka-configs.sh).
set -euo pipefail

bootstrap="${BOOTSTRAP_SERVERS:-kafka:9092}"
topics_file="${TOPICS_FILE:-/caisse/topics.tsv}"
replication_factor="${REPLICATION_FACTOR:-1}"
kafka_bin="${KAFKA_BIN:-/opt/kafka/bin}"

existing="$("${kafka_bin}/kafka-topics.sh" --bootstrap-server "${bootstrap}" --list)"

created=0
updated=0
while IFS=$'\t' read -r name partitions configs || [[ -n "${name}" ]]; do
  if [[ -z "${name}" || "${name}" == \#* ]]; then
    continue
  fi
  if grep -qxF -- "${name}" <<<"${existing}"; then
    "${kafka_bin}/kafka-configs.sh" --bootstrap-server "${bootstrap}" --alter \
      --entity-type topics --entity-name "${name}" --add-config "${configs}"
    updated=$((updated + 1))
  else
    config_args=()
    IFS=',' read -ra pairs <<<"${configs}"
    for pair in "${pairs[@]}"; do
      config_args+=(--config "${pair}")
    done
    "${kafka_bin}/kafka-topics.sh" --bootstrap-server "${bootstrap}" --create --if-not-exists \
      --topic "${name}" --partitions "${partitions}" --replication-factor "${replication_factor}" \
      "${config_args[@]}"
    created=$((created + 1))
  fi
done <"${topics_file}"

echo "kafka-init: ${created} topic(s) created, ${updated} already there (configs re-applied)"
