/**
 * How errors are told apart: a refusal for good, a table lock, a lost connection, a row's own
 * fault, the broker's size limit. The adapters classify (src/postgres/failures.ts, the broker's
 * publisherFailure); the engine only reads their verdict.
 */
import { describe, expect, test } from "bun:test";
import { brokerConnectFailure, databaseFailure, isPermanentRefusal } from "../../src/engine/dependency.ts";
import { storeFailure } from "../../src/postgres/failures.ts";
import { isRowError } from "../../src/postgres/record.ts";
import { publisherFailure } from "../../src/rabbitmq/broker.ts";
import { refusedSizeLimit } from "../../src/rabbitmq/link.ts";

const broker = (message: string) => brokerConnectFailure(publisherFailure(new Error(message)));
const sqlError = (code: string) => Object.assign(new Error(`error ${code}`), { code });
const database = (code: string) => databaseFailure("connecting", storeFailure(sqlError(code)));

describe("isPermanentRefusal", () => {
  test("the broker's own refusals: credentials, vhost, a queue the user may not declare", () => {
    expect(
      isPermanentRefusal(
        broker(
          'Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN."',
        ),
      ),
    ).toBe(true);
    expect(
      isPermanentRefusal(
        broker('Connection closed: 530 (NOT-ALLOWED) with message "NOT_ALLOWED - vhost nope not found"'),
      ),
    ).toBe(true);
    expect(
      isPermanentRefusal(
        broker(
          "Operation failed: QueueDeclare; 403 (ACCESS-REFUSED) with message \"ACCESS_REFUSED - access to queue 'q' in vhost '/' refused\"",
        ),
      ),
    ).toBe(true);
  });

  test("digits elsewhere are not a refusal: a port, a message size", () => {
    expect(isPermanentRefusal(broker("connect ECONNREFUSED 10.0.0.7:31403"))).toBe(false);
    expect(isPermanentRefusal(broker("connect ECONNREFUSED 10.0.0.7:5530"))).toBe(false);
    expect(
      isPermanentRefusal(
        broker(
          'Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - message size 16853012 is larger than configured max size 16777216"',
        ),
      ),
    ).toBe(false);
  });

  test("PostgreSQL: a wrong password, an unknown role or database; not a refused connection", () => {
    for (const code of ["28P01", "28000", "3D000"]) expect(isPermanentRefusal(database(code).error)).toBe(true);
    expect(isPermanentRefusal(database("ECONNREFUSED").error)).toBe(false);
  });
});

describe("databaseFailure over the store adapter's verdict", () => {
  test("a lost connection, a table lock, a statement's own error", () => {
    for (const code of ["ECONNREFUSED", "CONNECTION_CLOSED", "08006", "57P01", "25006"])
      expect(database(code)).toMatchObject({ lost: true, error: { name: "DependencyError" } });
    expect(database("55P03")).toMatchObject({ lost: false, error: { name: "TableLockedError", doing: "connecting" } });
    expect(database("42P01")).toMatchObject({ lost: false, error: { name: "DependencyError", permanent: false } });
  });

  test("the driver's own error stays the cause, so diagnosis still reads its code", () => {
    expect(database("28P01").error.cause).toMatchObject({ code: "28P01" });
  });
});

describe("isRowError", () => {
  test("a value, a constraint or a trigger of this row", () => {
    for (const code of ["22003", "22008", "23505", "23514", "P0001", "39000", "2F003"])
      expect(isRowError(sqlError(code))).toBe(true);
  });
  test("the database's own trouble fails the whole transaction instead", () => {
    for (const code of ["53100", "53200", "58030", "57014", "XX000", "CONNECTION_CLOSED", "08006", "40001"])
      expect(isRowError(sqlError(code))).toBe(false);
  });
});

describe("refusedSizeLimit", () => {
  test("both of RabbitMQ's wordings", () => {
    expect(
      refusedSizeLimit("PRECONDITION_FAILED - message size 20000000 is larger than configured max size 16777216"),
    ).toBe(16777216);
    expect(refusedSizeLimit("PRECONDITION_FAILED - message size 600000000 is larger than max size 536870912")).toBe(
      536870912,
    );
    expect(refusedSizeLimit("NOT_FOUND - no queue")).toBeNull();
  });
});
