// docker-compose.yml cannot run here (no Docker): its structure is checked instead, service by service.
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const REPO = fileURLToPath(new URL("../..", import.meta.url));

interface Service {
  image?: string;
  command?: string | string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: string[];
  working_dir?: string;
}

const compose = parse(readFileSync(resolve(REPO, "docker-compose.yml"), "utf8")) as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
};
const commandText = (service: Service) => [service.entrypoint ?? [], service.command ?? []].flat().join(" ");

describe("docker-compose.yml", () => {
  it("runs NATS, clickpipe, Prometheus and Grafana", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["clickpipe", "grafana", "nats", "prometheus"]);
    for (const [name, service] of Object.entries(compose.services)) expect(service.image, name).toMatch(/^[\w./-]+:[\w.-]+$/);
  });

  it("starts NATS with JetStream and a persistent store", () => {
    const nats = compose.services.nats;
    expect(nats.image).toMatch(/^nats:/);
    expect(commandText(nats).split(" ")).toContain("-js");
    expect(nats.ports).toContain("4222:4222");
  });

  it("runs the demo in node:20 with npm ci && npm start against the nats service, metrics on 9464", () => {
    const clickpipe = compose.services.clickpipe;
    expect(clickpipe.image).toBe("node:20");
    expect(commandText(clickpipe)).toContain("npm ci && npm start");
    expect(clickpipe.volumes).toContain(".:/app");
    expect(clickpipe.working_dir).toBe("/app");
    expect(clickpipe.environment?.NATS_URL).toBe("nats://nats:4222");
    expect(clickpipe.ports).toContain("9464:9464");
    expect(clickpipe.depends_on).toContain("nats");
    // The demo pipeline reads its metrics port from this variable.
    expect(readFileSync(resolve(REPO, "pipelines/demo.yaml"), "utf8")).toContain("${CLICKPIPE_METRICS_PORT:-9464}");
  });

  it("gives Prometheus the repository's config/prometheus and Grafana the repository's grafana folders", () => {
    expect(compose.services.prometheus.volumes).toContain("./config/prometheus:/etc/prometheus/clickpipe:ro");
    expect(commandText(compose.services.prometheus)).toContain("/etc/prometheus/clickpipe/prometheus.yml");
    expect(compose.services.grafana.volumes).toContain("./grafana/provisioning:/etc/grafana/provisioning:ro");
    expect(compose.services.grafana.ports).toContain("3000:3000");
  });

  it("mounts only host folders that exist and named volumes it declares, and depends only on its own services", () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(":")[0];
        if (source.startsWith(".") || source.startsWith("/")) expect(existsSync(resolve(REPO, source)), `${name}: ${volume}`).toBe(true);
        else expect(Object.keys(compose.volumes ?? {}), `${name}: ${volume}`).toContain(source);
      }
      for (const dependency of service.depends_on ?? []) expect(Object.keys(compose.services)).toContain(dependency);
    }
  });
});
