import { type ChannelModel, type ConfirmChannel, connect } from "amqplib";
import type { Change } from "../../model/change.js";
import { CrwatchError, errorMessage } from "../../model/errors.js";
import { renderRefTemplate, unknownFields } from "../ref-template.js";
import type { DeliveryOutcome, Sink, SinkHealth } from "../sink.js";
import { type AmqpSinkConfig, DEFAULT_ROUTING_KEY } from "./config.js";

/** An open connection with its confirm channel; `lost` rejects once either closes. */
interface Session {
  model: ChannelModel;
  channel: ConfirmChannel;
  lost: Promise<never>;
  /** Message ids the broker returned as unroutable (basic.return comes before the ack). */
  returned: Set<string>;
}

/**
 * Publishes each change to an exchange as a persistent message on a confirm channel, and
 * counts it delivered only on the broker's ack. messageId is the change id. A broker that is
 * down, a dropped connection or a nack gives retry outcomes; the next attempt reconnects.
 * An unroutable message (mandatory, returned: no queue is bound) is retried too: binding a
 * queue is a setup step that may still come, and the log keeps the change meanwhile; after
 * the sink's maxAttempts it is dead-lettered and `crwatch dead-letters retry` sends it again.
 */
export function createAmqpSink(config: AmqpSinkConfig): Sink {
  const routingKey = config.routingKey ?? DEFAULT_ROUTING_KEY;
  const unknown = unknownFields(routingKey);
  if (unknown.length > 0)
    throw new CrwatchError("CRW_SINK_CONFIG", `amqp routingKey: unknown field {${unknown[0]}}`);
  let session: Promise<Session> | null = null;
  let lastError: string | undefined;

  const open = (): Promise<Session> => {
    const attempt: Promise<Session> = openSession(config, () => {
      if (session === attempt) session = null;
    }).catch((err: unknown) => {
      if (session === attempt) session = null;
      throw err;
    });
    session = attempt;
    return attempt;
  };

  const publishOne = async (s: Session, change: Change): Promise<DeliveryOutcome> => {
    const key = renderRefTemplate(routingKey, change);
    const confirmed = new Promise<void>((resolve, reject) => {
      s.channel.publish(
        config.exchange,
        key,
        Buffer.from(JSON.stringify(change)),
        {
          persistent: true,
          mandatory: true,
          messageId: change.id,
          contentType: "application/json",
          type: `dev.crwatch.change.${change.type.toLowerCase()}`,
          timestamp: Math.floor(Date.parse(change.committedAt) / 1000),
          headers: { "crwatch-seq": change.seq },
        },
        (err: unknown) => (err ? reject(err) : resolve()),
      );
    });
    try {
      await Promise.race([confirmed, s.lost]);
    } catch (err) {
      lastError = `not confirmed: ${errorMessage(err)}`;
      return { status: "retry", error: lastError };
    }
    if (s.returned.delete(change.id)) {
      lastError = `unroutable: no queue is bound to exchange "${config.exchange}" for routing key "${key}"`;
      return { status: "retry", error: lastError };
    }
    return { status: "delivered" };
  };

  return {
    name: config.name,
    type: "amqp",
    async deliver(changes) {
      let s: Session;
      try {
        s = await (session ?? open());
      } catch (err) {
        lastError = `cannot connect: ${errorMessage(err)}`;
        throw new CrwatchError("CRW_SINK_DELIVERY", lastError, { cause: err });
      }
      return Promise.all(changes.map((change) => publishOne(s, change)));
    },
    health(): SinkHealth {
      return lastError ? { disabled: false, lastError } : { disabled: false };
    },
    async close() {
      const pending = session;
      session = null;
      const s = await pending?.catch(() => null);
      if (!s) return;
      await s.channel.close().catch(() => undefined);
      await s.model.close().catch(() => undefined);
    },
  };
}

async function openSession(config: AmqpSinkConfig, onLost: () => void): Promise<Session> {
  const model = await connect(config.url);
  let fail: (err: Error) => void = () => undefined;
  const lost = new Promise<never>((_, reject) => {
    fail = reject;
  });
  lost.catch(() => undefined);
  // Without these listeners an 'error' event would crash the process.
  let dropped = false;
  const drop = (err?: Error) => {
    if (dropped) return;
    dropped = true;
    onLost();
    fail(err ?? new Error("the connection to the broker closed"));
    // A channel closed by the broker (a missing exchange) leaves the connection open: close
    // it too, the next attempt opens both afresh.
    model.close().catch(() => undefined);
  };
  model.on("error", drop);
  model.on("close", drop);
  try {
    const channel = await model.createConfirmChannel();
    channel.on("error", drop);
    channel.on("close", () => drop(new Error("the channel closed")));
    const returned = new Set<string>();
    channel.on("return", (msg: { properties: { messageId?: string } }) => {
      if (msg.properties.messageId) returned.add(msg.properties.messageId);
    });
    if (config.declare !== false && config.exchange !== "") {
      await channel.assertExchange(config.exchange, config.exchangeType ?? "topic", {
        durable: true,
      });
    }
    return { model, channel, lost, returned };
  } catch (err) {
    await model.close().catch(() => undefined);
    throw err;
  }
}
