// Shared store for several replicas: a pg Pool for statements and transactions, and one
// dedicated connection per LISTEN channel that reconnects on its own and tells the
// caller to resync (notifications sent while it was away are lost).
import { Socket } from 'node:net';
import pg from 'pg';
import { StoreNotWritable, type Db, type Migration, type Row, type Sql } from './types.js';
import { MIGRATIONS_TABLE, appliedVersion, checkMigrations, migrationSql } from './migrate.js';
import { BackwardsStep, clockOffBy, DATABASE_CLOCK_SQL } from './clock-check.js';
import { LastWrite } from './last-write.js';
import { postgresTrouble, probePostgres, STORE_MIGRATIONS, wrote } from './postgres-writes.js';

// BIGINT columns (sequence numbers, counts) as numbers, not strings; they stay far below 2^53.
const typeParsers = new pg.TypeOverrides();
typeParsers.setTypeParser(pg.types.builtins.INT8, 'text', (v: string) => Number(v));
const types: pg.CustomTypesConfig = typeParsers;

/**
 * A link that stops answering without closing (a partition, a host that died hard) reports
 * nothing by itself. The LISTEN connection is asked the database's time this often, and one that
 * has not answered within the deadline is dropped as lost: the grant cache then stops vouching
 * (the data path answers 503) until a new connection is listening and the cache has resynced.
 * The answer also tells how far this process's clock is from the database's (clock-check.ts).
 */
const HEARTBEAT_MS = 1_000;
const HEARTBEAT_DEADLINE_MS = 3_000;
/** A connection attempt, and any statement, that takes longer fails (503 on the data path), never hangs the request. */
const CONNECT_TIMEOUT_MS = 5_000;
const QUERY_TIMEOUT_MS = 15_000;
/** What pg's client throws when a statement outlives QUERY_TIMEOUT_MS. */
const QUERY_TIMEOUT_MESSAGE = 'Query read timeout';
/** pg_stat_activity's application_name of the LISTEN connections. */
const LISTENER_NAME = 'jitgate-listen';

export interface PostgresOptions {
  url: string;
  poolSize?: number;
  /** Delay before a lost LISTEN connection is retried. */
  reconnectDelayMs?: number;
  /** How long a statement may take (default QUERY_TIMEOUT_MS; tests shorten it). */
  queryTimeoutMs?: number;
}

/** What a statement's outcome says about the store's writes (last-write.ts). */
interface WriteWatch {
  /** The statement changed rows. */
  wrote(): void;
  failed(err: unknown): void;
}

function wrap(client: pg.ClientBase | pg.Pool, watch: WriteWatch): Sql {
  return {
    async query<T extends Row = Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
      let res: pg.QueryResult<T>;
      try {
        res = await client.query<T>(text, params as unknown[]);
      } catch (err) {
        watch.failed(err);
        throw err;
      }
      if (wrote(res.command)) watch.wrote();
      return res.rows;
    },
  };
}

export class PostgresDb implements Db {
  readonly dialect = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly direct: Sql;
  private closed = false;
  private readonly listeners = new Set<pg.Client>();
  #clockOff: string | null = null;
  readonly #backwards = new BackwardsStep();
  readonly #lastWrite = new LastWrite(postgresTrouble);

  constructor(private readonly opts: PostgresOptions) {
    this.pool = new pg.Pool({
      connectionString: opts.url, max: opts.poolSize ?? 10, types,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS, query_timeout: opts.queryTimeoutMs ?? QUERY_TIMEOUT_MS, keepAlive: true,
    });
    // An idle client's error (server restart) must not crash the process; the next query reconnects.
    this.pool.on('error', () => undefined);
    // Outside a transaction a statement that wrote has committed.
    this.direct = wrap(this.pool, { wrote: () => { this.#lastWrite.succeeded(); }, failed: (err) => { this.#lastWrite.failed(err); } });
  }

  clockOff(): string | null {
    // A step back is seen at once; an offset from the database's clock within a heartbeat.
    return this.#backwards.check() ?? this.#clockOff;
  }

  /** Measures this process's clock against the database's, on a LISTEN connection. */
  async #checkClock(c: pg.Client): Promise<void> {
    const before = Date.now();
    const rows = (await c.query<{ ms: number }>(DATABASE_CLOCK_SQL)).rows;
    this.#clockOff = clockOffBy(before, Number(rows[0]?.ms), Date.now());
  }

  query<T extends Row = Row>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    return this.direct.query<T>(text, params);
  }

  async tx<T>(fn: (sql: Sql) => Promise<T>, opts: { lockKey?: string } = {}): Promise<T> {
    const client = await this.pool.connect();
    // A connection whose ROLLBACK failed may still hold a transaction (and its locks): destroy it, never pool it.
    let broken = false;
    let writes = 0;
    try {
      await client.query('BEGIN');
      if (opts.lockKey !== undefined) await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [opts.lockKey]);
      const result = await fn(wrap(client, { wrote: () => { writes++; }, failed: (err) => { this.#lastWrite.failed(err); } }));
      // A transaction a statement failed in (the error caught by fn) ends in a ROLLBACK, whatever COMMIT says.
      const end = await client.query('COMMIT');
      if (writes > 0 && end.command === 'COMMIT') this.#lastWrite.succeeded();
      return result;
    } catch (err) {
      this.#lastWrite.failed(err);
      // A statement that timed out leaves a server that does not answer: a ROLLBACK would wait as
      // long again. The connection is dropped instead, which ends the transaction on the server.
      if (err instanceof Error && err.message === QUERY_TIMEOUT_MESSAGE) broken = true;
      else {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
      }
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async migrate(part: string, migrations: readonly Migration[]): Promise<void> {
    checkMigrations('store', STORE_MIGRATIONS);
    checkMigrations(part, migrations);
    // Replicas starting together must not race on DDL: one advisory lock for all migrations.
    await this.tx(async (sql) => {
      await sql.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['jitgate_migrations']);
      await sql.query(MIGRATIONS_TABLE);
      // The store's own tables first, whichever part migrates first.
      for (const [p, list] of [['store', STORE_MIGRATIONS], [part, migrations]] as const) {
        const current = await appliedVersion(sql, p);
        for (const m of list) {
          if (m.version <= current) continue;
          await sql.query(migrationSql(m, 'postgres'));
          await sql.query('INSERT INTO jitgate_migrations (part, version, description, applied_at) VALUES ($1, $2, $3, $4)', [
            p, m.version, m.description, new Date().toISOString(),
          ]);
        }
      }
    });
  }

  async notify(channel: string, payload: string, sql?: Sql): Promise<void> {
    // Inside a transaction, NOTIFY is delivered only if and when it commits.
    await (sql ?? this.direct).query('SELECT pg_notify($1, $2)', [channel, payload]);
  }

  async listen(
    channel: string,
    onMessage: (payload: string) => void,
    onReconnect: () => void,
    onLost?: () => void,
  ): Promise<() => Promise<void>> {
    let client: pg.Client | null = null;
    let heartbeat: NodeJS.Timeout | undefined;
    let stopped = false;
    const connect = async (isReconnect: boolean): Promise<void> => {
      // Our own socket, so a silent link can be cut: ending the client would wait for an answer that never comes.
      let socket: Socket | null = null;
      const c = new pg.Client({
        connectionString: this.opts.url, types, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true,
        // Named, so an operator (or a test) finds the change feeds in pg_stat_activity.
        application_name: LISTENER_NAME,
        stream: () => (socket = new Socket()),
      });
      c.on('notification', (msg) => {
        if (msg.channel === channel) onMessage(msg.payload ?? '');
      });
      const own: { heartbeat?: NodeJS.Timeout } = {};
      const lost = (): void => {
        clearInterval(own.heartbeat);
        if (client !== c) return;
        client = null;
        this.listeners.delete(c);
        c.removeAllListeners('end');
        c.end().catch(() => undefined);
        socket?.destroy();
        if (!stopped && !this.closed) onLost?.();
        if (!stopped && !this.closed) setTimeout(() => void retry(), this.opts.reconnectDelayMs ?? 250).unref();
      };
      c.on('error', lost);
      c.on('end', lost);
      try {
        await c.connect();
        await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
        // Before anyone is told the feed is up: a cache must not vouch on an unmeasured clock.
        await this.#checkClock(c);
      } catch (err) {
        (socket as Socket | null)?.destroy();
        throw err;
      }
      client = c;
      this.listeners.add(c);
      let beating = false;
      own.heartbeat = heartbeat = setInterval(() => {
        if (beating) return;
        beating = true;
        const deadline = setTimeout(lost, HEARTBEAT_DEADLINE_MS).unref();
        this.#checkClock(c).then(() => {
          clearTimeout(deadline);
          beating = false;
        }, () => {
          clearTimeout(deadline);
          lost();
        });
      }, HEARTBEAT_MS);
      heartbeat.unref();
      if (isReconnect) onReconnect();
    };
    const retry = async (): Promise<void> => {
      if (stopped || this.closed) return;
      try {
        await connect(true);
      } catch {
        setTimeout(() => void retry(), this.opts.reconnectDelayMs ?? 250).unref();
      }
    };
    await connect(false);
    return async () => {
      stopped = true;
      const c = client;
      client = null;
      clearInterval(heartbeat);
      if (c) {
        this.listeners.delete(c);
        await c.end().catch(() => undefined);
      }
    };
  }

  async ping(): Promise<void> {
    // A standby (after a failover that left the address on the old primary's replica) or a
    // database set read-only answers every read and refuses every write.
    const rows = await this.query<{ read_only: string }>("SELECT current_setting('transaction_read_only') AS read_only");
    if (rows[0]?.read_only === 'on') {
      throw new StoreNotWritable('the server takes no writes (transaction_read_only is on: a standby, or default_transaction_read_only is set)');
    }
    // A full disk leaves the setting off and reads working: only a write tried says so.
    await this.#lastWrite.check(() => probePostgres((fn) => this.tx(fn)));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.listeners].map((c) => c.end().catch(() => undefined)));
    await this.pool.end();
  }
}
