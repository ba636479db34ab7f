import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { closedPort, type Receiver, startReceiver } from "../../../test/sinks/receiver.js";
import { FakeClock } from "../../core/clock.js";
import type { Change } from "../../model/change.js";
import { CrwatchError } from "../../model/errors.js";
import { sampleChange, sinkContract } from "../contract.js";
import { createSlackSink } from "./sink.js";
import { renderTemplate } from "./template.js";

const clock = new FakeClock(Date.parse("2026-11-26T08:00:00.000Z"));
const live = () => new AbortController().signal;

const textOf = (body: string) => (JSON.parse(body) as { text: string }).text;

function richChange(): Change {
  return {
    ...sampleChange(5),
    actor: { name: "alice", via: "git" },
    cause: {
      kind: "commit",
      id: "0123456789abcdef",
      message: "Shift traffic <canary>\n\nlong body",
    },
    findings: [
      { ruleId: "weight-zero", severity: "medium", message: "a backend gets no traffic" },
      { ruleId: "public-route", severity: "high", message: "route exposed & public" },
    ],
    summary: ["a", "b", "c", "d"],
  };
}

sinkContract("slack to a real HTTP receiver", async () => {
  const receiver = await startReceiver();
  const port = await closedPort();
  return {
    sink: createSlackSink(
      { name: "chat", type: "slack", url: receiver.url, template: "#{{seq}}" },
      clock,
    ),
    broken: createSlackSink(
      { name: "chat", type: "slack", url: `http://127.0.0.1:${port}/x` },
      clock,
    ),
    delivered: async () => receiver.requests.map((r) => Number(textOf(r.body).slice(1))),
    cleanup: () => receiver.close(),
  };
});

describe("slack sink", () => {
  let receiver: Receiver;
  beforeEach(async () => {
    receiver = await startReceiver();
  });
  afterEach(async () => receiver.close());

  it("should post a compact message: resource, actor, cause, highest finding, diff", async () => {
    const sink = createSlackSink(
      { name: "chat", type: "slack", url: receiver.url, maxDiffLines: 2 },
      clock,
    );
    await sink.deliver([richChange()], live());
    assert.equal(receiver.requests[0]!.headers["content-type"], "application/json; charset=utf-8");
    assert.equal(
      textOf(receiver.requests[0]!.body),
      [
        "*MODIFIED* `s:HTTPRoute.gateway.networking.k8s.io shop/r5` by alice via git (commit 0123456789ab: Shift traffic &lt;canary&gt;)",
        ":warning: [HIGH] public-route: route exposed &amp; public",
        "• a",
        "• b",
        "… 2 more",
      ].join("\n"),
    );
  });

  it("should leave out what a change does not have", async () => {
    const sink = createSlackSink({ name: "chat", type: "slack", url: receiver.url }, clock);
    await sink.deliver([{ ...sampleChange(1), summary: [] }], live());
    assert.equal(
      textOf(receiver.requests[0]!.body),
      "*MODIFIED* `s:HTTPRoute.gateway.networking.k8s.io shop/r1`",
    );
  });

  it("should use the sink's own template", async () => {
    const template = "{{resource}} changed{{^actor}} (actor unknown){{/actor}} [{{severity}}]";
    const sink = createSlackSink(
      { name: "chat", type: "slack", url: receiver.url, template },
      clock,
    );
    await sink.deliver([sampleChange(1), richChange()], live());
    assert.deepStrictEqual(
      receiver.requests.map((r) => textOf(r.body)),
      [
        "s:HTTPRoute.gateway.networking.k8s.io shop/r1 changed (actor unknown) []",
        "s:HTTPRoute.gateway.networking.k8s.io shop/r5 changed [high]",
      ],
    );
  });

  it("should refuse a template with an unknown name or an unclosed section", () => {
    for (const template of ["{{nope}}", "{{#actor}}x", "{{/actor}}"]) {
      assert.throws(
        () => createSlackSink({ name: "c", type: "slack", url: receiver.url, template }, clock),
        (err: unknown) => err instanceof CrwatchError && err.code === "CRW_SINK_CONFIG",
        template,
      );
    }
  });

  it("should render nested sections without losing its place", () => {
    const view = { a: "1", b: "", c: "3" };
    assert.equal(
      renderTemplate("{{#a}}A{{^b}}B{{c}}{{/b}}{{/a}}!{{c}}", view, (s) => s),
      "AB3!3",
    );
  });

  it("should honour 429 Retry-After and never put the hook URL in an error", async () => {
    receiver.answer = () => ({ status: 429, headers: { "retry-after": "1" } });
    const sink = createSlackSink(
      { name: "chat", type: "slack", url: `${receiver.url}/T000/B000/XXXXSECRET` },
      clock,
    );
    const [outcome] = await sink.deliver([sampleChange(1)], live());
    assert.deepStrictEqual(outcome, {
      status: "retry",
      error: "HTTP 429",
      notBefore: clock.now() + 1000,
    });
    const port = await closedPort();
    const down = createSlackSink(
      { name: "chat", type: "slack", url: `http://127.0.0.1:${port}/T000/XXXXSECRET` },
      clock,
    );
    const [failed] = await down.deliver([sampleChange(1)], live());
    assert.equal(failed!.status, "retry");
    assert.doesNotMatch(JSON.stringify(failed), /SECRET/);
  });
});
