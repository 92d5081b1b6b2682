// The composition root: builds every part from the configuration, starts them in
// dependency order and stops them in reverse. Parts know nothing of each other beyond
// the interfaces they are handed here.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createControlServer, type ControlServer } from '../admin/index.js';
import { createAuditTrail, createDecisionLogger, queryAudit, serviceDispatcher, serviceHeaders, serviceUrl, type AuditEntry, type AuditTrail, type CheckpointWitness, type DecisionLogSink } from '../audit/index.js';
import { configFileWarnings, loadConfig, type GatewayConfig, type OpaBundle } from '../config/index.js';
import { ERRORS, isJitgateError, jitgateError, toError } from '../errors.js';
import { createGrantServices, type GrantServices } from '../grants/index.js';
import { createAuthenticator, identityReadiness, keyRefreshStates, keySourcesChanged, ReloadableAuthenticator, type IdentityConfig, type ManagedAuthenticator } from '../identity/index.js';
import { createNotifier, type Notifier } from '../notify/index.js';
import { HealthRegistry, createLogger, createMetrics, storeReachable, type PrometheusMetrics } from '../observability/index.js';
import { BUNDLE_FILE_NAME, BundleDownloader, checkBundleSignature, PolicyManager, type PolicyConfig, type PolicyEvent, type PolicyStatus } from '../policy/index.js';
import { createProxyServer, type ProxyServer } from '../proxy/index.js';
import { claimSqliteFile, openDb, type Db } from '../store/index.js';
import { readTls, type TlsFiles, type TlsMaterial } from '../tls/index.js';

export interface Gateway {
  readonly proxyAddress: { host: string; port: number };
  readonly controlAddress: { host: string; port: number };
  readonly logger: Logger;
  readonly policy: PolicyManager;
  /**
   * Re-reads the configuration file and applies its routes and credentials, and the listeners'
   * certificate files. An invalid file or certificate, or a file that changes what only a
   * restart can change, is refused whole (and audited).
   */
  reload(configFile: string): Promise<void>;
  stop(): Promise<void>;
}

export interface GatewayOptions {
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
}

function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

/** Stops what was started, newest first; keeps going when one part fails to stop. */
class Lifecycle {
  private readonly stops: { name: string; stop: () => Promise<void> | void }[] = [];

  started(name: string, stop: () => Promise<void> | void): void {
    this.stops.push({ name, stop });
  }

  async stopAll(logger: Logger): Promise<void> {
    for (const { name, stop } of this.stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        logger.error({ err, part: name }, 'failed to stop cleanly');
      }
    }
    this.stops.length = 0;
  }
}

/** A record of something the gateway itself did (policy swaps, config reloads). */
function systemEntry(kind: AuditEntry['kind'], reason: string | null, details: Record<string, unknown>): AuditEntry {
  return { kind, actor: 'system', subject: null, request_id: null, grant_id: null, role: null, route: null, decision_id: null, policy_revision: null, reason, details };
}

/** The listeners' certificates, read (and checked) from the files the config names. */
function listenerTls(config: GatewayConfig): { proxy: TlsMaterial | null; control: TlsMaterial | null } {
  const tls = config.jitgate.listen.tls;
  return {
    proxy: tls?.proxy ? readTls(tls.proxy, 'jitgate.listen.tls.proxy') : null,
    control: tls?.control ? readTls(tls.control, 'jitgate.listen.tls.control') : null,
  };
}

/** The keys of `a` and `b` whose values differ, `prefix`ed, leaving out `reloadable`. */
function changedKeys(a: object, b: object, prefix: string, reloadable: readonly string[]): string[] {
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  return Object.keys({ ...x, ...y })
    .filter((key) => !reloadable.includes(key) && JSON.stringify(x[key]) !== JSON.stringify(y[key]))
    .map((key) => `${prefix}${key}`);
}

/**
 * What of the listeners' TLS only a restart can change: whether each serves TLS and asks for
 * client certificates (fixed when its server is made). The files are read again on every reload.
 */
function tlsShape(tls: GatewayConfig['jitgate']['listen']['tls']): unknown {
  const shape = (files: TlsFiles | undefined) => files && { clients: files.client_certificates?.required ?? null };
  return { proxy: shape(tls?.proxy), control: shape(tls?.control) };
}

/**
 * What a running gateway can take from a new file: routes, identity (API keys, token issuers,
 * mapped certificates), the listeners' certificates (read again, from the same files or others),
 * the trusted proxies and the client timeouts; everything else needs a restart.
 */
function restartOnlyChanges(current: GatewayConfig, next: GatewayConfig): string[] {
  const changed = changedKeys(current.jitgate, next.jitgate, 'jitgate.', ['routes', 'listen', 'identity']);
  changed.push(...changedKeys(current.jitgate.listen, next.jitgate.listen, 'jitgate.listen.', ['trusted_proxies', 'trusted_proxy_header', 'client_timeouts', 'tls']));
  if (JSON.stringify(tlsShape(current.jitgate.listen.tls)) !== JSON.stringify(tlsShape(next.jitgate.listen.tls))) changed.push('jitgate.listen.tls');
  changed.push(...changedKeys(current, next, '', ['jitgate', 'source']));
  return changed;
}

/**
 * An authenticator for changed identity settings, started (JWKS fetched, key files read), or null
 * when they did not change. One that cannot start is stopped and the reload refused.
 */
async function startedIdentity(running: ReloadableAuthenticator, current: IdentityConfig, next: IdentityConfig, logger: Logger, metrics: PrometheusMetrics): Promise<ManagedAuthenticator | null> {
  // Same settings and the same key files: nothing to do (a key file replaced in place is a change).
  if (JSON.stringify(current) === JSON.stringify(next) && !keySourcesChanged(running, next)) return null;
  const authenticator = createAuthenticator(next, { logger, previous: running, onKeyRefreshFailed: (issuer) => { metrics.keyRefreshFailed(issuer); } });
  try {
    await authenticator.start({ keysRequired: true });
  } catch (err) {
    running.discard(authenticator);
    throw jitgateError('CONFIG_INVALID', `jitgate.identity: ${toError(err).message}`, undefined, err);
  }
  return authenticator;
}

/**
 * The shadow policy (jitgate.policy.shadow), built and watched like the active one but never
 * enforced. One that cannot be loaded is logged and compares nothing until it can (watched, it
 * is picked up once fixed): comparing is not worth refusing to serve for.
 */
async function startShadowPolicy(config: PolicyConfig, logger: Logger): Promise<PolicyManager | null> {
  if (!config.shadow) return null;
  const { shadow: shadowConfig, ...active } = config;
  const shadow = new PolicyManager({ config: { ...active, ...shadowConfig }, logger: logger.child({ policy: 'shadow' }), required: false, vet: false });
  let status: PolicyStatus;
  try {
    status = await shadow.start();
  } catch (err) {
    logger.error({ err: toError(err), dir: shadowConfig.dir }, 'the shadow policy could not be started; live decisions are not compared (fix it and restart)');
    return null;
  }
  if (shadow.revision === null) {
    const next = shadowConfig.watch ? `watching ${shadowConfig.dir}: comparing starts once it builds` : 'fix it and restart';
    logger.error({ reason: status.last_error?.message ?? `no policies in ${shadowConfig.dir}`, dir: shadowConfig.dir }, `the shadow policy could not be loaded; live decisions are not compared (${next})`);
  } else {
    logger.info({ dir: shadowConfig.dir, revision: shadow.revision }, 'shadow policy loaded: every decision is also asked of it, never enforced');
  }
  return shadow;
}

/** How much longer than its headers a whole bundle download may take (at least; the header timeout, if longer). */
const BUNDLE_BODY_DEADLINE_MS = 60_000;

/** OPA's bundle plugin for the one configured bundle (the config loader checked its service exists). */
function bundleDownloader(config: GatewayConfig, name: string, bundle: OpaBundle, target: PolicyManager, logger: Logger): BundleDownloader {
  const service = config.services[bundle.service];
  if (!service) throw jitgateError('CONFIG_INVALID', `bundles.${name}.service: no service named "${bundle.service}" in services`);
  return new BundleDownloader({
    name,
    url: serviceUrl(service, bundle.resource),
    headers: () => serviceHeaders(service),
    dispatcher: () => serviceDispatcher(service),
    minDelayMs: bundle.polling.min_delay_seconds * 1000,
    maxDelayMs: bundle.polling.max_delay_seconds * 1000,
    sizeLimitBytes: bundle.size_limit_bytes,
    timeoutMs: (service.response_header_timeout_seconds ?? 10) * 1000,
    bodyDeadlineMs: Math.max(BUNDLE_BODY_DEADLINE_MS, (service.response_header_timeout_seconds ?? 10) * 1000),
    longPollMs: bundle.polling.long_polling_timeout_seconds === undefined ? null : bundle.polling.long_polling_timeout_seconds * 1000,
    file: join(config.jitgate.policy.bundles_dir, BUNDLE_FILE_NAME),
  }, target, logger);
}

/** The services jitgate.audit.checkpoint_service names (the config loader checked that they exist). */
function checkpointWitnesses(config: GatewayConfig): CheckpointWitness[] {
  const named = config.jitgate.audit.checkpoint_service ?? [];
  const resource = config.jitgate.audit.checkpoint_resource ?? '/checkpoints';
  return (typeof named === 'string' ? [named] : named).map((name) => {
    const service = config.services[name];
    if (!service) throw jitgateError('CONFIG_INVALID', `jitgate.audit.checkpoint_service: no service named "${name}" in services`);
    return { name, service, resource };
  });
}

function policyAuditEntry(event: PolicyEvent): AuditEntry {
  const entry = event.type === 'loaded'
    ? systemEntry('policy.loaded', null, { source: event.source, previous: event.previous, ...(event.returned ? { returned: true } : {}) })
    : systemEntry('policy.rejected', event.error, { source: event.source, error_code: event.code });
  return { ...entry, policy_revision: event.revision };
}

function warnAboutFiles(config: GatewayConfig, logger: Logger): void {
  const problems = configFileWarnings(config);
  if (problems.length > 0) logger.warn({ file: config.source, problems }, 'configuration: files that hold secrets or decide who may do what are open to other accounts');
}

export async function startGateway(config: GatewayConfig, opts: GatewayOptions = {}): Promise<Gateway> {
  const j = config.jitgate;
  const metrics: PrometheusMetrics = createMetrics();
  const logger = opts.logger ?? createLogger(j.observability, undefined, () => { metrics.logDropped(); });
  const health = new HealthRegistry();
  const life = new Lifecycle();

  try {
    warnAboutFiles(config, logger);
    // First: a certificate that cannot be served stops the start before anything else runs.
    const tls = listenerTls(config);
    if (j.store.type === 'sqlite' && j.store.sqlite.path !== ':memory:') {
      const release = claimSqliteFile(j.store.sqlite.path);
      life.started('store owner', release);
    }
    const db: Db = openDb(j.store);
    life.started('store', () => db.close());
    health.register('store', storeReachable(db));

    const audit: AuditTrail = createAuditTrail(db, j.audit, {
      onStoreError: (op, err) => {
        metrics.storeError(op);
        // At most once per checkpoint interval (appends that fail are reported by their callers).
        if (op === 'audit.checkpoint') logger.warn({ err: toError(err) }, 'audit checkpoint not written or not sent to the witness; the next interval tries again');
      },
    }, checkpointWitnesses(config));
    await audit.start();
    health.register('audit_trail', () => {
      const why = audit.discontinuity;
      return why === null ? { ok: true } : { ok: false, detail: why };
    });
    life.started('audit', () => audit.stop());

    const bundle = Object.entries(config.bundles)[0];
    // Pulled from a bundle server, policies are not also compiled here (a local folder must not override them).
    const policy = new PolicyManager({
      config: j.policy,
      logger,
      build: bundle === undefined,
      // Every bundle this manager loads, downloaded or found in bundles_dir, meets the signing rule.
      ...(bundle === undefined ? {} : { verifyBundle: (archive: Uint8Array, files: ReadonlyMap<string, Uint8Array>) => checkBundleSignature(archive, bundle[1].signing, config.keys, files) }),
    });
    const unsubscribe = policy.onEvent((event) => {
      metrics.policyReload(event.type === 'loaded' ? 'success' : 'failure');
      if (event.type === 'loaded') metrics.policyRevision(event.revision);
      audit.append(policyAuditEntry(event)).catch((err: unknown) => {
        logger.error({ err }, 'could not record a policy event in the audit trail');
      });
    });
    const downloader = bundle === undefined ? null : bundleDownloader(config, bundle[0], bundle[1], policy, logger);
    // The first download before start: a replica with nothing on disk gets its policy from the server.
    if (downloader) await downloader.fetchOnce();
    try {
      await policy.start();
    } catch (err) {
      if (downloader?.lastError) throw jitgateError('POLICY_NOT_LOADED', `${toError(err).message}; and ${downloader.lastError}`, undefined, err);
      throw err;
    }
    life.started('policy', async () => {
      unsubscribe();
      await policy.stop();
    });
    if (downloader) {
      downloader.start();
      life.started('bundles', () => downloader.stop());
    }
    health.register('policy', () =>
      policy.revision === null ? { ok: false, detail: 'no policy is loaded' } : { ok: true, detail: `revision ${policy.revision}` },
    );
    const shadow = await startShadowPolicy(j.policy, logger);
    if (shadow) life.started('policy_shadow', () => shadow.stop());

    const notifier: Notifier = createNotifier(j.notifications, logger, { onDrop: (n) => { metrics.webhookDropped(n); } });
    notifier.start();
    life.started('notifications', () => notifier.stop());

    // The configuration in force: a reload replaces it.
    let current = config;
    const grants: GrantServices = await createGrantServices({
      db, policy, audit, notifier, config: j.workflow, logger, routeNames: () => current.jitgate.routes.map((r) => r.name),
    });
    life.started('grants', () => grants.stop());
    health.register('grant_cache', () =>
      grants.cache.ready ? { ok: true } : { ok: false, detail: db.clockOff() ?? 'the grant cache is not in sync with the store' },
    );
    metrics.setGauges(() => grants.gauges());

    const authenticator = new ReloadableAuthenticator(createAuthenticator(j.identity, { logger, onKeyRefreshFailed: (issuer) => { metrics.keyRefreshFailed(issuer); } }));
    metrics.setKeyRefreshes(() => keyRefreshStates(authenticator));
    await authenticator.start();
    life.started('identity', () => { authenticator.stop(); });
    health.register('identity', () => identityReadiness(authenticator));

    const decisionLog: DecisionLogSink = createDecisionLogger(config.decision_logs, {
      labels: config.labels,
      services: config.services,
      logger,
      onDrop: (n) => { metrics.decisionLogDropped(n); },
      rules: policy,
    });
    await decisionLog.start();
    life.started('decision_logs', () => decisionLog.stop());

    const proxy: ProxyServer = createProxyServer({
      routes: j.routes,
      policy,
      shadow,
      ...(j.control.console && j.control.public_url !== undefined ? { consoleUrl: j.control.public_url } : {}),
      grants: grants.cache,
      authenticator,
      audit,
      decisionLog,
      metrics,
      logger,
      env: opts.env ?? process.env,
      tls: tls.proxy,
      trustedProxies: j.listen.trusted_proxies,
      trustedProxyHeader: j.listen.trusted_proxy_header,
      clientTimeouts: j.listen.client_timeouts,
      maxConnections: j.listen.max_connections.proxy,
      policyBodyBudgetBytes: j.listen.policy_body_budget_bytes,
      ...(j.listen.policy_body_budget_per_caller_bytes === undefined ? {} : { policyBodyCallerShareBytes: j.listen.policy_body_budget_per_caller_bytes }),
    });
    const control: ControlServer = createControlServer({
      workflow: grants.workflow,
      authenticator,
      auditQuery: (filter) => queryAudit(db, filter),
      health: { liveness: () => health.liveness(), readiness: () => health.readiness() },
      metrics: { contentType: metrics.contentType, render: () => metrics.render() },
      logger,
      bodyLimit: j.control.body_limit_bytes,
      console: j.control.console,
      tls: tls.control,
      clientTimeouts: j.listen.client_timeouts,
      connections: { max: j.listen.max_connections.control, dropped: () => { metrics.connectionDropped('control'); } },
    });
    const p = splitAddress(j.listen.proxy);
    const c = splitAddress(j.listen.control);
    // Stopped in the reverse order: the data path drains first, while the control API still
    // answers (a revoke can still end a stream that outlasts the drain).
    const controlAddress = await control.listen(c.host, c.port);
    life.started('control', () => control.close());
    const proxyAddress = await proxy.listen(p.host, p.port);
    life.started('proxy', () => {
      // From here the data path refuses new connections, for as long as its drain lasts (a stream
      // may hold it for minutes) while the control API still answers: a load balancer probing
      // /readyz must hear that and send callers elsewhere, not to a closed port.
      health.register('shutdown', () => ({ ok: false, detail: 'the gateway is stopping: the proxy takes no new connections and drains the requests in flight' }));
      return proxy.close();
    });

    const url = (scheme: string, a: { host: string; port: number }): string => `${scheme}://${a.host.includes(':') ? `[${a.host}]` : a.host}:${String(a.port)}`;
    logger.info(
      {
        proxy: `${proxyAddress.host}:${proxyAddress.port}`,
        control: `${controlAddress.host}:${controlAddress.port}`,
        proxy_url: url(tls.proxy ? 'https' : 'http', proxyAddress),
        control_url: url(tls.control ? 'https' : 'http', controlAddress),
        revision: policy.revision,
      },
      'jitgate listening',
    );

    const reloadNow = async (configFile: string): Promise<void> => {
      let identityChanged = false;
      /** Connections whose client certificate a new revocation list names (ended). */
      let revokedEnded = 0;
      try {
        const next = loadConfig(configFile);
        warnAboutFiles(next, logger);
        const restartOnly = restartOnlyChanges(current, next);
        if (restartOnly.length > 0) {
          throw jitgateError('CONFIG_INVALID', `these changes need a restart: ${restartOnly.join(', ')}`, { problems: restartOnly });
        }
        // Read before anything is applied: a pair that cannot be used leaves routes and certificates as they are.
        const nextTls = listenerTls(next);
        const listen = next.jitgate.listen;
        // New identity settings are started (keys read or fetched) before anything is applied, and
        // swapped in only once nothing else can refuse.
        const identity = await startedIdentity(authenticator, current.jitgate.identity, next.jitgate.identity, logger, metrics);
        // The routes are the one part that can still refuse (a secret not set): applied first, so a
        // refusal changes nothing. The caller settings were checked by loadConfig with the same parser.
        try {
          proxy.updateRoutes(next.jitgate.routes);
        } catch (err) {
          if (identity) authenticator.discard(identity);
          throw err;
        }
        if (identity) authenticator.replace(identity);
        identityChanged = identity !== null;
        proxy.updateCallers({ trustedProxies: listen.trusted_proxies, trustedProxyHeader: listen.trusted_proxy_header, clientTimeouts: listen.client_timeouts });
        control.updateClientTimeouts(listen.client_timeouts);
        revokedEnded = (nextTls.proxy ? proxy.useTls(nextTls.proxy) : 0) + (nextTls.control ? control.useTls(nextTls.control) : 0);
        current = next;
      } catch (err) {
        // The catalogue code (CONFIG_INVALID, a route's secret not set, ...) is what tools match on, as for policy.rejected.
        const code = isJitgateError(err) ? err.code : ERRORS.INTERNAL.code;
        await audit.append(systemEntry('config.rejected', toError(err).message, { file: configFile, error_code: code }));
        throw err;
      }
      const details = { identity_changed: identityChanged, revoked_connections_ended: revokedEnded };
      await audit.append(systemEntry('config.reloaded', null, { file: configFile, routes: current.jitgate.routes.map((r) => r.name), ...details }));
      logger.info({ file: configFile, routes: current.jitgate.routes.length, ...details }, 'configuration reloaded');
    };
    // One at a time: a reload waits on new identity keys, and a second SIGHUP meanwhile must
    // compare against what the first one applied.
    let reloads: Promise<unknown> = Promise.resolve();
    const reload = (configFile: string): Promise<void> => {
      const run = reloads.then(() => reloadNow(configFile));
      reloads = run.catch(() => undefined);
      return run;
    };

    return { proxyAddress, controlAddress, logger, policy, reload, stop: () => life.stopAll(logger) };
  } catch (err) {
    await life.stopAll(logger);
    throw err;
  }
}
