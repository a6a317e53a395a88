/**
 * Interop with the consumer's side: Python's `cryptography.fernet` must open what we seal (§5),
 * and we must open what it seals.
 *
 * Interpreter: Debian's /usr/bin/python3 first, because `apt-get install python3-cryptography`
 * (what CI runs) installs the module for that one only; a pyenv `python3` earlier on PATH does not
 * see it. `python3` from PATH is the fallback for machines with cryptography installed by pip.
 */
import { describe, expect, test } from "bun:test";
import { isFernetKey } from "../../src/schedule/fernet.ts";
import { fernetDecrypt, fernetEncrypt } from "../support/fernet-open.ts";

const CANDIDATES = ["/usr/bin/python3", "python3"];

// Reads a JSON list of operations on stdin and answers each; keys and tokens travel on stdin,
// never in argv, so they do not show up in `ps`.
const HELPER = `
import json, sys
from cryptography.fernet import Fernet, InvalidToken
out = []
for op in json.load(sys.stdin):
    try:
        if op["op"] == "generate_key":
            out.append({"ok": True, "value": Fernet.generate_key().decode()})
        elif op["op"] == "encrypt":
            out.append({"ok": True, "value": Fernet(op["key"]).encrypt(op["text"].encode()).decode()})
        elif op["op"] == "decrypt":
            out.append({"ok": True, "value": Fernet(op["key"]).decrypt(op["token"].encode(), ttl=op.get("ttl")).decode()})
        else:
            raise ValueError("unknown op " + op["op"])
    except InvalidToken:
        out.append({"ok": False, "error": "InvalidToken"})
json.dump(out, sys.stdout)
`;

type Op =
  | { op: "generate_key" }
  | { op: "encrypt"; key: string; text: string }
  | { op: "decrypt"; key: string; token: string; ttl?: number };
type Answer = { ok: true; value: string } | { ok: false; error: "InvalidToken" };

function findPython(): string | null {
  for (const python of CANDIDATES) {
    try {
      const probe = Bun.spawnSync([python, "-c", "import cryptography.fernet"], { stdout: "ignore", stderr: "ignore" });
      if (probe.exitCode === 0) return python;
    } catch {
      // Not installed at this path: try the next one.
    }
  }
  return null;
}

const python = findPython();

function runPython(ops: Op[]): Answer[] {
  if (python === null) {
    throw new Error(
      `no Python with cryptography.fernet (tried ${CANDIDATES.join(", ")}); ` +
        "install it with: apt-get update && apt-get install -y python3-cryptography",
    );
  }
  const result = Bun.spawnSync([python, "-c", HELPER], { stdin: Buffer.from(JSON.stringify(ops)) });
  if (result.exitCode !== 0) throw new Error(`${python} failed: ${result.stderr.toString()}`);
  return JSON.parse(result.stdout.toString()) as Answer[];
}

const value = (answer: Answer | undefined): string => {
  if (!answer?.ok) throw new Error(`Python answered ${JSON.stringify(answer)}`);
  return answer.value;
};

const PAYLOADS = ["", "hello", JSON.stringify({ report: "nightly", tags: ["é", "🙂"], n: 42 }), "x".repeat(1024)];

describe(`Fernet interop with Python (${python ?? "no interpreter found"})`, () => {
  test("a Python interpreter with cryptography.fernet is available", () => {
    expect(runPython([{ op: "generate_key" }])).toHaveLength(1);
  });

  test("Python opens tokens we seal, within a 60 s TTL", () => {
    const key = value(runPython([{ op: "generate_key" }])[0]);
    const answers = runPython(
      PAYLOADS.map((text) => ({ op: "decrypt", key, token: fernetEncrypt(key, text), ttl: 60 })),
    );
    expect(answers.map(value)).toEqual(PAYLOADS);
  });

  test("we open tokens Python seals, within a 60 s TTL", () => {
    const key = value(runPython([{ op: "generate_key" }])[0]);
    const tokens = runPython(PAYLOADS.map((text) => ({ op: "encrypt", key, text }))).map(value);
    expect(tokens.map((token) => fernetDecrypt(key, token, { ttlSeconds: 60 }).toString("utf8"))).toEqual(PAYLOADS);
  });

  test("a wrong key fails on both sides", () => {
    const [ours, theirs] = runPython([{ op: "generate_key" }, { op: "generate_key" }]).map(value) as [string, string];
    const [pythonToken] = runPython([{ op: "encrypt", key: theirs, text: "sealed by python" }]).map(value);

    expect(() => fernetDecrypt(ours, pythonToken!)).toThrow(expect.objectContaining({ code: "FERNET_INVALID_TOKEN" }));
    expect(runPython([{ op: "decrypt", key: theirs, token: fernetEncrypt(ours, "sealed by us") }])).toEqual([
      { ok: false, error: "InvalidToken" },
    ]);
  });

  test("isFernetKey accepts keys from Python's Fernet.generate_key()", () => {
    const keys = runPython(Array.from({ length: 20 }, () => ({ op: "generate_key" as const }))).map(value);
    expect(keys.filter((key) => !isFernetKey(key))).toEqual([]);
  });
});
