// The station's configuration on disk: `<dataDir>/station.json`, read and written through lowdb with a
// durable adapter, validated at every load. Paths of the data directory's rooms are derived here.
import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Low } from 'lowdb';
import { ConfigError } from '../errors.ts';
import { DurableJsonFile } from './durable-json-file.ts';
import { type PartnerConfig, STATION_DEFAULTS, type StationConfig, validateStationConfig } from './station-config.ts';

export const CONFIG_FILE = 'station.json';

export interface StationPaths {
  dataDir: string;
  configFile: string;
  /** Outgoing virtual files waiting for or in transfer. */
  spool: string;
  /** Delivered incoming files, one folder per partner. */
  inbox: string;
  /** Transfer state: checkpoints, pending receipts, history. */
  state: string;
}

export function stationPaths(dataDir: string): StationPaths {
  const dir = resolve(dataDir);
  return {
    dataDir: dir,
    configFile: join(dir, CONFIG_FILE),
    spool: join(dir, 'spool'),
    inbox: join(dir, 'inbox'),
    state: join(dir, 'state'),
  };
}

export class StationStore {
  readonly paths: StationPaths;
  readonly #db: Low<StationConfig>;

  private constructor(paths: StationPaths, db: Low<StationConfig>) {
    this.paths = paths;
    this.#db = db;
  }

  /** Opens an initialised data directory; a missing or invalid config is a ConfigError. */
  static async open(dataDir: string): Promise<StationStore> {
    const paths = stationPaths(dataDir);
    const adapter = new DurableJsonFile<StationConfig>(paths.configFile);
    let raw: StationConfig | null;
    try {
      raw = await adapter.read();
    } catch (err) {
      throw new ConfigError('OFTP_ERR_CONFIG', `${paths.configFile}: ${(err as Error).message}`, { cause: err });
    }
    if (raw === null) {
      throw new ConfigError(
        'OFTP_ERR_CONFIG',
        `no station in ${paths.dataDir} (run: oftp2 init --odette-id <your Odette ID>)`,
      );
    }
    const db = new Low(adapter, validateStationConfig(raw, paths.configFile));
    await ensureRooms(paths);
    return new StationStore(paths, db);
  }

  /** Creates a data directory with the station's identity; refuses to overwrite an existing one. */
  static async init(dataDir: string, station: { odetteId: string } & Record<string, unknown>): Promise<StationStore> {
    const paths = stationPaths(dataDir);
    if (await exists(paths.configFile)) {
      // The placeholder station `serve` made on embedded defaults may be replaced while it has no partners.
      const current = await StationStore.open(dataDir).catch(() => undefined);
      const placeholder = current?.config.station.odetteId === STATION_DEFAULTS.placeholderOdetteId && current.config.partners.length === 0;
      if (!placeholder) throw new ConfigError('OFTP_ERR_CONFIG', `${paths.configFile} already exists; refusing to overwrite`);
    }
    const config = validateStationConfig({ version: 1, station, partners: [] }, 'new station');
    await mkdir(paths.dataDir, { recursive: true, mode: 0o700 });
    const db = new Low(new DurableJsonFile<StationConfig>(paths.configFile), config);
    await db.write();
    await ensureRooms(paths);
    return new StationStore(paths, db);
  }

  /** Whether `dataDir` holds a station. */
  static async exists(dataDir: string): Promise<boolean> {
    return exists(stationPaths(dataDir).configFile);
  }

  get config(): StationConfig {
    return this.#db.data;
  }

  partner(name: string): PartnerConfig | undefined {
    return this.#db.data.partners.find((p) => p.name === name);
  }

  partnerByOdetteId(odetteId: string): PartnerConfig | undefined {
    return this.#db.data.partners.find((p) => p.odetteId === odetteId);
  }

  /** Adds a partner after validating the whole resulting config. */
  /** `partner` is checked by the schema, so it may come straight from user input. */
  async addPartner(partner: Record<string, unknown>): Promise<PartnerConfig> {
    const next = validateStationConfig(
      { ...this.#db.data, partners: [...this.#db.data.partners, partner] },
      'partner',
    );
    this.#db.data = next;
    await this.#db.write();
    return next.partners.at(-1)!;
  }

  /**
   * Changes the configuration: `change` edits a copy, the whole result is validated, then written.
   * Nothing is written when validation fails.
   */
  async update(change: (draft: StationConfig) => void): Promise<StationConfig> {
    const draft = structuredClone(this.#db.data);
    change(draft);
    const next = validateStationConfig(draft, this.paths.configFile);
    this.#db.data = next;
    await this.#db.write();
    return next;
  }

  async removePartner(name: string): Promise<void> {
    if (!this.partner(name)) throw new ConfigError('OFTP_ERR_CONFIG', `no partner named "${name}"`);
    this.#db.data = { ...this.#db.data, partners: this.#db.data.partners.filter((p) => p.name !== name) };
    await this.#db.write();
  }
}

async function ensureRooms(paths: StationPaths): Promise<void> {
  for (const dir of [paths.spool, paths.inbox, paths.state]) await mkdir(dir, { recursive: true, mode: 0o700 });
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
