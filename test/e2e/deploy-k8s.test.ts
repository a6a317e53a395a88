/**
 * scripts/deploy/k8s/*.yaml, validated offline: every document against the JSON schema of its
 * kind (kubernetes-models, generated from the Kubernetes OpenAPI spec; the ServiceMonitor from
 * the prometheus-operator CRD by @kubernetes-models/prometheus-operator), then the properties
 * the scheduler needs: probes, the non-root read-only security context, secrets as files,
 * a grace period above the shutdown timeout, and selectors that find the pods.
 *
 * YAML is read as Kubernetes reads it (YAML 1.1, so `defaultMode: 0440` is octal). The schemas
 * check types, enums and required fields; like the API server without strict field validation,
 * they let unknown fields through, so the fields that matter are checked by name below.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  type IServiceMonitor,
  ServiceMonitor,
} from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { Deployment, type IDeployment } from "kubernetes-models/apps/v1/Deployment";
import { type IPodDisruptionBudget, PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { type IService, Service } from "kubernetes-models/v1/Service";
import { parseAllDocuments } from "yaml";
import { loadConfig } from "../../src/config/config.ts";
import { SETTINGS } from "../../src/config/settings.ts";

const DIR = resolve(import.meta.dir, "../../scripts/deploy/k8s");

/** A model class per apiVersion/kind: each validates its data against the kind's schema. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  "apps/v1/Deployment": Deployment,
  "v1/Service": Service,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
};

interface Manifest {
  readonly file: string;
  readonly data: { apiVersion: string; kind: string; metadata: { name: string } } & Record<string, unknown>;
}

function load(): Manifest[] {
  const files = readdirSync(DIR)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort();
  return files
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(DIR, file), "utf8"), { version: "1.1" }).map((doc) => {
        if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
        return { file, data: doc.toJS() as Manifest["data"] };
      }),
    )
    .filter((manifest) => manifest.data !== null);
}

/** The schema's complaint about `data`, or null when it is valid. */
function schemaError(data: Manifest["data"]): string | null {
  const Model = MODELS[`${data.apiVersion}/${data.kind}`];
  if (!Model) return `no schema for ${data.apiVersion} ${data.kind}`;
  try {
    new Model(data as never).validate();
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

const manifests = load();
const one = <T>(kind: string): T => {
  const found = manifests.filter((m) => m.data.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0]!.data as T;
};
const deployment = one<IDeployment>("Deployment");
const pod = deployment.spec!.template.spec!;
const container = pod.containers[0]!;
const env = Object.fromEntries((container.env ?? []).map((variable) => [variable.name, variable.value!]));

describe("scripts/deploy/k8s", () => {
  test("holds a Deployment, a Service, a ServiceMonitor and a PodDisruptionBudget", () => {
    expect(manifests.map((m) => m.data.kind).sort()).toEqual([
      "Deployment",
      "PodDisruptionBudget",
      "Service",
      "ServiceMonitor",
    ]);
  });

  test.each(manifests.map((m) => [`${m.file}: ${m.data.kind}`, m] as const))(
    "%s is valid against its schema",
    (_, manifest) => {
      expect(schemaError(manifest.data)).toBeNull();
    },
  );

  test("the schemas are really applied: a wrong type or a missing required field is refused", () => {
    const wrongType = structuredClone(deployment) as Manifest["data"];
    (wrongType.spec as { replicas: unknown }).replicas = "2";
    expect(schemaError(wrongType)).toContain("replicas must be integer");
    const noName = structuredClone(deployment) as unknown as IDeployment;
    delete (noName.spec!.template.spec!.containers[0] as { name?: string }).name;
    expect(schemaError(noName as unknown as Manifest["data"])).toContain(
      "containers/0 must have required property name",
    );
    const monitor = structuredClone(one<IServiceMonitor>("ServiceMonitor"));
    (monitor.spec.endpoints![0] as { port: unknown }).port = 8080;
    expect(schemaError(monitor as unknown as Manifest["data"])).toContain("port must be string");
  });

  test("probes /healthz for liveness and /readyz for readiness on port 8080, listening on all interfaces", () => {
    expect(container.ports).toEqual([{ name: "http", containerPort: 8080, protocol: "TCP" }]);
    expect(container.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(container.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect({ host: env.SCHEDULER_HTTP_HOST, port: env.SCHEDULER_HTTP_PORT }).toEqual({ host: "0.0.0.0", port: "8080" });
  });

  test("runs as uid 1000, non-root, read-only, without privilege escalation or capabilities, under RuntimeDefault seccomp", () => {
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(container.securityContext?.capabilities?.add).toBeUndefined();
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  test("reads the passwords from a Secret volume that uid 1000 can read, through *_FILE variables", () => {
    const volume = pod.volumes!.find((v) => v.secret)!;
    const mount = container.volumeMounts!.find((m) => m.name === volume.name)!;
    expect(mount.readOnly).toBe(true);
    // fsGroup makes the files group 1000; 0440 (octal, as Kubernetes reads YAML) lets that group read.
    expect(pod.securityContext?.fsGroup).toBe(1000);
    expect(volume.secret!.defaultMode).toBe(0o440);
    const files = Object.entries(env).filter(([key]) => key.endsWith("_FILE"));
    expect(files.length).toBeGreaterThanOrEqual(2);
    const paths = (volume.secret!.items ?? []).map((item) => `${mount.mountPath}/${item.path}`);
    for (const [, path] of files) expect(paths).toContain(path);
    expect(container.env!.every((variable) => !/PASS(WORD)?$|_URL$|KEY$/.test(variable.name))).toBe(true);
  });

  test("sets only variables the scheduler reads, a configuration it accepts", () => {
    const known = new Set(SETTINGS.flatMap((setting) => [setting.env, `${setting.env}_FILE`]));
    expect(Object.keys(env).filter((key) => !known.has(key))).toEqual([]);
    expect(() => loadConfig({ env, readFile: () => "x" })).not.toThrow();
  });

  test("limits memory above the image's measured cold floor, and requests no more than the limit", () => {
    // docs/install.md, "Memory limit": 72 MiB from a cold page cache with httpGet probes.
    const mebibytes = (value: unknown) => Number(String(value).replace(/Mi$/, ""));
    const limit = mebibytes(container.resources?.limits?.memory);
    expect(limit).toBeGreaterThanOrEqual(72);
    expect(mebibytes(container.resources?.requests?.memory)).toBeLessThanOrEqual(limit);
  });

  test("gives the pod longer to stop than the scheduler's shutdown timeout", () => {
    const shutdownSeconds = loadConfig({ env, readFile: () => "x" }).shutdownTimeoutMs / 1000;
    expect(pod.terminationGracePeriodSeconds!).toBeGreaterThan(shutdownSeconds);
  });

  test("the Service, ServiceMonitor and PodDisruptionBudget select the Deployment's pods", () => {
    const labels = deployment.spec!.template.metadata!.labels!;
    const matches = (selector: Record<string, string> | undefined) =>
      Object.entries(selector ?? { none: "" }).every(([key, value]) => labels[key] === value);
    const service = one<IService>("Service");
    const monitor = one<IServiceMonitor>("ServiceMonitor");
    const budget = one<IPodDisruptionBudget>("PodDisruptionBudget");
    expect(matches(deployment.spec!.selector.matchLabels)).toBe(true);
    expect(matches(service.spec!.selector)).toBe(true);
    expect(matches(budget.spec!.selector!.matchLabels)).toBe(true);
    // The monitor finds the Service by its labels and scrapes the named port's /metrics.
    expect(
      Object.entries(monitor.spec.selector.matchLabels!).every(([k, v]) => service.metadata!.labels![k] === v),
    ).toBe(true);
    expect(monitor.spec.endpoints).toEqual([expect.objectContaining({ port: "http", path: "/metrics" })]);
    expect(service.spec!.ports).toEqual([expect.objectContaining({ name: "http", port: 8080, targetPort: "http" })]);
    // With two replicas, a drain may take one, never both.
    expect(deployment.spec!.replicas!).toBeGreaterThan(1);
    expect(budget.spec!.maxUnavailable).toBe(1);
  });
});
