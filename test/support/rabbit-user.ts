/**
 * A temporary RabbitMQ user with chosen permissions on vhost "/", for tests of what the
 * scheduler does when the broker refuses it something. Made and deleted with rabbitmqctl.
 */
import { $ } from "bun";
import { uniqueName } from "./services.ts";

export interface RabbitUser {
  readonly name: string;
  /** RABBITMQ_USER / RABBITMQ_PASSWORD for a scheduler that connects as this user. */
  readonly env: Record<string, string>;
  drop(): Promise<void>;
}

/** `configure`, `write`, `read` are RabbitMQ permission regexes ("^$" allows nothing, ".*" everything). */
export async function createRabbitUser(permissions: {
  configure: string;
  write: string;
  read: string;
}): Promise<RabbitUser> {
  const name = uniqueName("rune_user");
  const password = "test-password";
  await $`rabbitmqctl -q add_user ${name} ${password}`.quiet();
  await $`rabbitmqctl -q set_permissions -p / ${name} ${permissions.configure} ${permissions.write} ${permissions.read}`.quiet();
  return {
    name,
    env: { RABBITMQ_USER: name, RABBITMQ_PASSWORD: password },
    drop: async () => void (await $`rabbitmqctl -q delete_user ${name}`.quiet().nothrow()),
  };
}
