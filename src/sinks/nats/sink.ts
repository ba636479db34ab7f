import {
  type ConnectionOptions,
  connect,
  headers,
  type JetStreamClient,
  type NatsConnection,
  nanos,
  StorageType,
} from "nats";
import type { Change } from "../../model/change.js";
import { CrwatchError, errorMessage } from "../../model/errors.js";
import { renderRefTemplate, unknownFields } from "../ref-template.js";
import type { DeliveryOutcome, Sink, SinkHealth } from "../sink.js";
import { DEFAULT_SUBJECT, type NatsSinkConfig, type NatsStreamConfig } from "./config.js";

interface Connected {
  nc: NatsConnection;
  js: JetStreamClient;
}

/**
 * Publishes each change to JetStream and waits for the stream's ack, so "delivered" means
 * "stored by the server". `Nats-Msg-Id` is the change id: a redelivery within the stream's
 * duplicate window is dropped by the server. A server that is down or a stream that is
 * missing gives retry outcomes; the connection is made again on the next attempt.
 */
export function createNatsSink(config: NatsSinkConfig): Sink {
  const subject = config.subject ?? DEFAULT_SUBJECT;
  const unknown = unknownFields(subject);
  if (unknown.length > 0)
    throw new CrwatchError("CRW_SINK_CONFIG", `nats subject: unknown field {${unknown[0]}}`);
  const stream = streamOf(config.stream);
  let connecting: Promise<Connected> | null = null;
  let lastError: string | undefined;

  const connection = async (): Promise<Connected> => {
    const current = await connecting?.catch(() => null);
    // A connection the client gave up on (an auth error ends reconnecting) is replaced.
    if (current?.nc.isClosed()) connecting = null;
    connecting ??= open(config, stream, subject).catch((err) => {
      connecting = null;
      throw err;
    });
    return connecting;
  };

  const publishOne = async (js: JetStreamClient, change: Change): Promise<DeliveryOutcome> => {
    const h = headers();
    h.set("Crwatch-Seq", String(change.seq));
    h.set("Crwatch-Type", change.type);
    try {
      await js.publish(renderRefTemplate(subject, change), JSON.stringify(change), {
        msgID: change.id,
        headers: h,
        timeout: config.ackTimeoutMs ?? 5000,
        ...(stream ? { expect: { streamName: stream.name } } : {}),
      });
      return { status: "delivered" };
    } catch (err) {
      lastError = describe(err, subject);
      return /MAX_PAYLOAD|maximum payload/i.test(errorMessage(err))
        ? { status: "rejected", error: lastError }
        : { status: "retry", error: lastError };
    }
  };

  return {
    name: config.name,
    type: "nats",
    async deliver(changes) {
      let js: JetStreamClient;
      try {
        ({ js } = await connection());
      } catch (err) {
        lastError = `cannot connect: ${errorMessage(err)}`;
        throw new CrwatchError("CRW_SINK_DELIVERY", lastError, { cause: err });
      }
      // Pipelined: all publishes go out on one connection (kept in order), then the acks.
      return Promise.all(changes.map((change) => publishOne(js, change)));
    },
    health(): SinkHealth {
      return lastError ? { disabled: false, lastError } : { disabled: false };
    },
    async close() {
      const pending = connecting;
      connecting = null;
      const conn = await pending?.catch(() => null);
      await conn?.nc.close().catch(() => undefined);
    },
  };
}

function streamOf(stream: NatsSinkConfig["stream"]): NatsStreamConfig | undefined {
  return typeof stream === "string" ? { name: stream } : stream;
}

async function open(
  config: NatsSinkConfig,
  stream: NatsStreamConfig | undefined,
  subject: string,
): Promise<Connected> {
  const options: ConnectionOptions = {
    servers: config.url.split(",").map((s) => s.trim()),
    name: `crwatch:${config.name}`,
    // Reconnect for ever in the background; meanwhile publishes time out into retries.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    timeout: 5000,
  };
  if (config.user !== undefined) options.user = config.user;
  if (config.pass !== undefined) options.pass = config.pass;
  if (config.token !== undefined) options.token = config.token;
  const nc = await connect(options);
  try {
    if (stream?.create) await ensureStream(nc, stream, subject);
    return { nc, js: nc.jetstream({ timeout: config.ackTimeoutMs ?? 5000 }) };
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
}

/** Creates the stream when missing, on file storage with a de-duplication window. */
async function ensureStream(
  nc: NatsConnection,
  stream: NatsStreamConfig,
  subject: string,
): Promise<void> {
  const jsm = await nc.jetstreamManager();
  const exists = await jsm.streams.info(stream.name).then(
    () => true,
    (err: unknown) => {
      if (/not found/i.test(errorMessage(err))) return false;
      throw err;
    },
  );
  if (exists) return;
  await jsm.streams.add({
    name: stream.name,
    subjects: stream.subjects ?? [defaultCapture(subject)],
    storage: StorageType.File,
    num_replicas: stream.replicas ?? 1,
    duplicate_window: nanos(stream.duplicateWindowMs ?? 120_000),
  });
}

/** `crwatch.{source}.{kind}` → `crwatch.>`: the literal tokens before the first field. */
function defaultCapture(subject: string): string {
  const literal: string[] = [];
  for (const token of subject.split(".")) {
    if (token.includes("{")) break;
    literal.push(token);
  }
  return literal.length > 0 ? `${literal.join(".")}.>` : ">";
}

function describe(err: unknown, subject: string): string {
  const message = errorMessage(err);
  if (/no responders|503/i.test(message))
    return `no JetStream stream captures subjects of ${subject} (${message})`;
  return message;
}
