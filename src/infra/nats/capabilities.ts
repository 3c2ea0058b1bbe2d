/**
 * What the connected NATS server can do, checked once after connecting, so that a role fails at start with a clear
 * error instead of misbehaving later (scale-out.md §1.6).
 *
 * Why: the dev and CI machines run Debian's nats-server 2.9.10, production should run a current one, and the
 * differences are silent. A 2.9 server ignores config fields it does not know: a KV bucket created with `markerTTL`
 * (2.11) succeeds and simply has no per-key TTL (§1.4, measured). nats.js checks some fields against the server
 * version itself (multi-filter consumers, compression, subject transforms) but not all of them (allow_msg_ttl,
 * allow_atomic). So klagg checks versions explicitly against its own table below, and reads stream configs back
 * (`assertStreamConfigApplied`) rather than trusting that a create applied what it asked for.
 */
import { compare, parseSemVer, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StreamConfig, type StreamInfo } from '@nats-io/jetstream';
import { KlaggError } from '../../domain/errors.ts';

/** The first server version with each optional feature the scale-out design may use (§1.6, §8). */
export const FEATURE_MIN_VERSION = {
  /** `filter_subjects` with several subjects on one consumer. */
  multiFilterConsumers: '2.10.0',
  /** `compression: s2` on file streams. */
  streamCompression: '2.10.0',
  /** `subject_transform` on streams (and the `partition()` transform in it). */
  subjectTransforms: '2.10.0',
  /** Per-message/per-key TTL and limit markers (`allow_msg_ttl`, KV `markerTTL`). */
  perKeyTtl: '2.11.0',
  /** Priority groups on pull consumers (overflow, pinned client). */
  priorityGroups: '2.11.0',
  /** Atomic batch publish (`allow_atomic`). */
  atomicBatch: '2.12.0',
} as const;

export type NatsFeature = keyof typeof FEATURE_MIN_VERSION;
export type NatsNeed = NatsFeature | 'jetstream';

export interface NatsCapabilities {
  /** The server's version as it reports it ('2.9.10'). */
  readonly version: string;
  /** JetStream is enabled for this connection's account. */
  readonly jetstream: boolean;
  /** Each optional feature: the server is new enough and JetStream is on (they are all JetStream features). */
  readonly features: Readonly<Record<NatsFeature, boolean>>;
  /**
   * The cluster the server belongs to and how many servers' client URLs it advertised (a lower bound of the cluster's
   * size while it is forming); undefined for a server outside a cluster.
   */
  readonly cluster?: { readonly name: string; readonly servers: number };
}

/** The capabilities a server of `version` has, with JetStream on or off. Pure: `checkCapabilities` asks the server. */
export function capabilitiesOf(version: string, jetstream: boolean, cluster?: NatsCapabilities['cluster']): NatsCapabilities {
  if (!/^v?\d+\.\d+\.\d+/.test(version)) throw new KlaggError('KLAGG_ERR_NATS_CAPABILITY', { what: `cannot read the nats-server version ${JSON.stringify(version)}` });
  const server = parseSemVer(version);
  const features = Object.fromEntries(
    Object.entries(FEATURE_MIN_VERSION).map(([feature, min]) => [feature, jetstream && compare(server, parseSemVer(min)) >= 0]),
  ) as Record<NatsFeature, boolean>;
  return cluster === undefined ? { version, jetstream, features } : { version, jetstream, features, cluster };
}

/**
 * Reads the connected server's version (from its INFO) and whether JetStream is enabled for the account ($JS.API.INFO;
 * one request). A JetStream that does not answer for another reason (a timeout) is an error, not a "no".
 */
export async function checkCapabilities(nc: NatsConnection): Promise<NatsCapabilities> {
  const info = nc.info;
  if (info === undefined) {
    throw new KlaggError('KLAGG_ERR_NATS_CAPABILITY', { what: 'the NATS connection has no server INFO yet (not connected)' });
  }
  const cluster = info.cluster === undefined ? undefined : { name: info.cluster, servers: Math.max(1, info.connect_urls?.length ?? 1) };
  return capabilitiesOf(info.version, await jetstreamEnabled(nc), cluster);
}

async function jetstreamEnabled(nc: NatsConnection): Promise<boolean> {
  try {
    await (await jetstreamManager(nc, { checkAPI: false })).getAccountInfo();
    return true;
  } catch (error) {
    // No JetStream on the server: nats.js maps the missing responder to JetStreamNotEnabled (not exported by name).
    if (error instanceof Error && error.name === 'JetStreamNotEnabled') return false;
    // JetStream on the server but not for this account.
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.JetStreamNotEnabledForAccount) return false;
    throw error;
  }
}

/** Throws KLAGG_ERR_NATS_CAPABILITY naming every need the server does not meet (and its version). */
export function requireCapabilities(caps: NatsCapabilities, needs: readonly NatsNeed[]): void {
  const missing = needs.flatMap((need) => {
    if (need === 'jetstream') return caps.jetstream ? [] : ['JetStream (not enabled for this account)'];
    if (caps.features[need]) return [];
    return [caps.jetstream ? `${need} (needs nats-server ≥ ${FEATURE_MIN_VERSION[need]})` : `${need} (needs JetStream)`];
  });
  if (missing.length > 0) {
    throw new KlaggError('KLAGG_ERR_NATS_CAPABILITY', { what: `nats-server ${caps.version} lacks ${missing.join(', ')}` });
  }
}

/**
 * The fields of `expected` that `actual` does not hold: "dropped" when absent (a server that does not know the field
 * ignores it), "changed" when different. An absent field matches a falsy expected value (false, 0, '', []), which is
 * what the server means by absent. Objects match when every field given matches (the server adds defaults).
 */
export function configDifferences(expected: Readonly<Record<string, unknown>>, actual: Readonly<Record<string, unknown>>): string[] {
  const differences: string[] = [];
  for (const [field, want] of Object.entries(expected)) {
    if (want === undefined) continue;
    const got = actual[field];
    if (got === undefined || got === null) {
      if (!isEmpty(want)) differences.push(`${field} dropped (asked ${JSON.stringify(want)}, absent)`);
    } else if (!matches(want, got)) {
      differences.push(`${field} changed (asked ${JSON.stringify(want)}, got ${JSON.stringify(got)})`);
    }
  }
  return differences;
}

function isEmpty(value: unknown): boolean {
  return value === false || value === 0 || value === '' || value === null || (Array.isArray(value) && value.length === 0);
}

function matches(want: unknown, got: unknown): boolean {
  if (Array.isArray(want)) return Array.isArray(got) && got.length === want.length && want.every((w, i) => matches(w, got[i]));
  if (want !== null && typeof want === 'object') {
    if (got === null || typeof got !== 'object') return false;
    const g = got as Record<string, unknown>;
    return Object.entries(want).every(([k, w]) => w === undefined || (g[k] === undefined ? isEmpty(w) : matches(w, g[k])));
  }
  return Object.is(want, got);
}

/**
 * Reads a stream's config back and throws KLAGG_ERR_NATS_CAPABILITY when a field the caller set was silently dropped
 * or changed (§1.4: 2.9 ignores fields it does not know). Returns the stream's info.
 */
export async function assertStreamConfigApplied(jsm: JetStreamManager, name: string, expected: Partial<StreamConfig>): Promise<StreamInfo> {
  const info = await jsm.streams.info(name);
  const differences = configDifferences(expected, info.config as unknown as Record<string, unknown>);
  if (differences.length > 0) {
    const what = `stream ${name} not as asked: ${differences.join('; ')} (a server older than a field ignores it)`;
    throw new KlaggError('KLAGG_ERR_NATS_CAPABILITY', { what });
  }
  return info;
}
