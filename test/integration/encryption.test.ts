/** ENCRYPTION_KEY end to end: the published message carries a Fernet token a Python worker opens. */
import { beforeAll, expect, test } from "bun:test";
import { fernetDecrypt } from "../support/fernet-open.ts";
import { sharedScope } from "../support/scope.ts";
import { insertSchedules, type TestQueue, waitFor } from "../support/services.ts";

const KEY = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
const DATA = { api_token: "tok-123", nested: { list: [1, "two", null], emoji: "🗝️", quote: 'a"b' } };

const scope = sharedScope();
let queue: TestQueue;

beforeAll(async () => {
  const fixture = await scope.setup({ consume: true });
  queue = fixture.queue;
  await insertSchedules(fixture.db.sql, [{ dueInMs: -50, intervalSeconds: 3600, data: DATA }]);
  scope.start({ ...fixture.db.env, ...queue.env, ENCRYPTION_KEY: KEY });
});

test("workflow_data is replaced by a Fernet token of its JSON text, with header x-encryption: fernet", async () => {
  const message = await waitFor("the sealed message", () => queue.messages[0]);
  expect(message.body).not.toHaveProperty("workflow_data");
  expect(message.raw.properties.headers).toMatchObject({ "x-encryption": "fernet" });
  const token = message.body.workflow_data_encrypted as string;
  expect(JSON.parse(fernetDecrypt(KEY, token).toString("utf8"))).toEqual(DATA);
  expect(message.raw.content.toString()).not.toContain("tok-123");
});

test("Python's cryptography.fernet opens the published token", async () => {
  const message = await waitFor("the sealed message", () => queue.messages[0]);
  const python = Bun.spawnSync(
    [
      "/usr/bin/python3",
      "-c",
      "import sys,json; from cryptography.fernet import Fernet; k,t=sys.stdin.read().split('\\n'); print(json.dumps(json.loads(Fernet(k.encode()).decrypt(t.encode()))))",
    ],
    { stdin: Buffer.from(`${KEY}\n${message.body.workflow_data_encrypted}`) },
  );
  expect(python.stderr.toString()).toBe("");
  expect(JSON.parse(python.stdout.toString())).toEqual(DATA);
});
