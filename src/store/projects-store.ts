/**
 * Projects, their deployments, and the webhook slugs of their triggers. Deploys are rare, so
 * these writes go straight to the database, each deploy in one transaction.
 */
import type { Manifest } from "../deploy/manifest";
import type { Db } from "./database";

export interface ProjectRow {
  name: string;
  active_deployment_id: string | null;
  created_at: string;
  updated_at: string;
}

export interface DeploymentRow {
  id: string;
  project: string;
  created_at: string;
  manifest: Manifest;
  bundle: string;
  source_map: string;
  source_hash: string;
}

export interface TriggerSlug {
  project: string;
  name: string;
  slug: string;
}

interface RawDeploymentRow extends Omit<DeploymentRow, "manifest"> {
  manifest: string;
}

export class ProjectsStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  project(name: string): ProjectRow | undefined {
    return this.#db
      .prepare<[string], ProjectRow>("SELECT * FROM projects WHERE name = ?")
      .get(name);
  }

  projects(): ProjectRow[] {
    return this.#db.prepare<[], ProjectRow>("SELECT * FROM projects ORDER BY name").all();
  }

  deployment(id: string): DeploymentRow | undefined {
    const row = this.#db
      .prepare<[string], RawDeploymentRow>("SELECT * FROM deployments WHERE id = ?")
      .get(id);
    return row && { ...row, manifest: JSON.parse(row.manifest) as Manifest };
  }

  /** A deployment's manifest alone, without its code. */
  manifestOf(id: string): Manifest | undefined {
    const row = this.#db
      .prepare<[string], { manifest: string }>("SELECT manifest FROM deployments WHERE id = ?")
      .get(id);
    return row && (JSON.parse(row.manifest) as Manifest);
  }

  /** Deployment ids and times of a project, newest first, without their code. */
  deploymentsOf(project: string): { id: string; created_at: string }[] {
    return this.#db
      .prepare<[string], { id: string; created_at: string }>(
        "SELECT id, created_at FROM deployments WHERE project = ? ORDER BY created_at DESC",
      )
      .all(project);
  }

  activeDeployments(): DeploymentRow[] {
    return this.#db
      .prepare<[], RawDeploymentRow>(
        "SELECT d.* FROM deployments d JOIN projects p ON p.active_deployment_id = d.id",
      )
      .all()
      .map((row) => ({ ...row, manifest: JSON.parse(row.manifest) as Manifest }));
  }

  slugs(project: string): Map<string, string> {
    const rows = this.#db
      .prepare<[string], TriggerSlug>("SELECT project, name, slug FROM triggers WHERE project = ?")
      .all(project);
    return new Map(rows.map((r) => [r.name, r.slug]));
  }

  /**
   * Store a deployment and make it the project's active one; create the project and any new
   * trigger slugs on the way. All or nothing.
   */
  saveDeployment(deployment: DeploymentRow, newSlugs: TriggerSlug[]): void {
    this.#db.transaction(() => {
      const now = deployment.created_at;
      this.#db
        .prepare(
          `INSERT INTO projects (name, active_deployment_id, created_at, updated_at) VALUES (?, NULL, ?, ?)
           ON CONFLICT(name) DO NOTHING`,
        )
        .run(deployment.project, now, now);
      this.#db
        .prepare(
          `INSERT INTO deployments (id, project, created_at, manifest, bundle, source_map, source_hash)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          deployment.id,
          deployment.project,
          now,
          JSON.stringify(deployment.manifest),
          deployment.bundle,
          deployment.source_map,
          deployment.source_hash,
        );
      const insertSlug = this.#db.prepare(
        "INSERT INTO triggers (project, name, slug, created_at) VALUES (?, ?, ?, ?)",
      );
      for (const t of newSlugs) insertSlug.run(t.project, t.name, t.slug, now);
      this.#db
        .prepare("UPDATE projects SET active_deployment_id = ?, updated_at = ? WHERE name = ?")
        .run(deployment.id, now, deployment.project);
    })();
  }
}
