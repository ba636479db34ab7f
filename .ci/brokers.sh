#!/usr/bin/env bash
# The sink tests talk to a real NATS JetStream (127.0.0.1:4222) and RabbitMQ (127.0.0.1:5672).
# This machine's kind starts both before a session; if one does not answer, start it with the
# same command the machine uses, and wait until it does. Elsewhere, run them in containers:
#   docker run -d -p 4222:4222 nats:2 -js
#   docker run -d -p 5672:5672 rabbitmq:3
set -euo pipefail

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
  local port=$1 name=$2
  for _ in $(seq 1 60); do
    answers "$port" && return 0
    sleep 1
  done
  echo "$name does not answer on 127.0.0.1:$port" >&2
  return 1
}

if ! answers 4222; then
  echo "starting NATS with JetStream"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_for 4222 NATS
fi
if ! answers 5672; then
  echo "starting RabbitMQ"
  rabbitmq-server -detached
  wait_for 5672 RabbitMQ
fi
