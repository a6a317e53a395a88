/**
 * Dockerfile.scratch built and run by podman, with this folder's containers.conf: for the image
 * tests (test/e2e/image.test.ts) and the memory benchmark (scripts/bench/image-memory.ts). The
 * image is the Dockerfile's `prebuilt` target: the shipped image's settings over the root
 * filesystem scripts/rootfs.sh assembles from a binary compiled here, so no base image is pulled.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";

const REPO = resolve(import.meta.dir, "../..");
export const CONTAINERS_CONF = join(REPO, "scripts/podman/containers.conf");

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `podman ARGS` to its end, with the project's settings; killed after `timeoutMs`. */
export async function podman(args: string[], timeoutMs = 120_000): Promise<Ran> {
  const proc = Bun.spawn(["podman", ...args], {
    env: { ...process.env, CONTAINERS_CONF },
    stdout: "pipe",
    stderr: "pipe",
    timeout: timeoutMs,
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

/** `podman ARGS`, its stdout trimmed; an exit other than 0 throws with the command and its stderr. */
export async function podmanOk(args: string[], timeoutMs?: number): Promise<string> {
  const ran = await podman(args, timeoutMs);
  if (ran.code !== 0) throw new Error(`podman ${args.join(" ")} exited ${ran.code}: ${ran.stderr.trim()}`);
  return ran.stdout.trim();
}

/** podman's version; throws, naming the fix, when podman is missing or cannot run here. */
export async function requirePodman(): Promise<string> {
  let ran: Ran;
  try {
    ran = await podman(["version", "--format", "{{.Client.Version}}"], 30_000);
  } catch (error) {
    throw new Error(
      `podman is not installed (${(error as Error).message}): install it with scripts/test-deps.sh as root (Debian's podman and runc)`,
    );
  }
  if (ran.code !== 0)
    throw new Error(
      `podman cannot run here (exit ${ran.code}): ${ran.stderr.trim()}; see scripts/podman/containers.conf`,
    );
  return ran.stdout.trim();
}

/**
 * Builds `tag` from `binary`: scripts/rootfs.sh into WORKDIR/rootfs, then the `prebuilt` target
 * of Dockerfile.scratch with WORKDIR as the context, in the docker format (podman's default, OCI,
 * drops the HEALTHCHECK). `--pull=never`: nothing may come from a registry. `--layers=false`: no
 * cache (podman 4.3 reuses a cached LABEL step when only a `--build-arg` changed, keeping the old
 * commit) and no intermediate images left behind.
 */
export async function buildImage(binary: string, workDir: string, tag: string, commit = "unknown"): Promise<void> {
  mkdirSync(workDir, { recursive: true });
  const rootfs = Bun.spawnSync(["bash", join(REPO, "scripts/rootfs.sh"), binary, join(workDir, "rootfs")], {
    stderr: "pipe",
    stdout: "ignore",
  });
  if (rootfs.exitCode !== 0) throw new Error(`scripts/rootfs.sh failed: ${rootfs.stderr.toString()}`);
  await podmanOk([
    "build",
    "--pull=never",
    "--layers=false",
    "--format",
    "docker",
    "--target",
    "prebuilt",
    "--build-arg",
    `RUNE_COMMIT=${commit}`,
    "-f",
    join(REPO, "Dockerfile.scratch"),
    "-t",
    tag,
    workDir,
  ]);
}
