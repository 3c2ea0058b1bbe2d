/**
 * What the inspector hub hands out (to the routes, and as JSON to the page): actors as views, one actor's details for
 * the actor panel, the ring's recent events, the snapshot and the batched changes.
 */
import type { FinishedGroup } from './finished-actors.ts';
import type { LogicKind } from './logic-kind.ts';

export interface ActorView {
  /** Stable key within this hub (`a1`, `a2`, …). */
  readonly key: string;
  /** The actor's id (a spawned child's id, e.g. `XRPETH`, `worker-0`; the root's is its sessionId). */
  readonly id: string;
  readonly systemId?: string;
  readonly sessionId: string;
  /** Key of the parent actor, if the hub saw it. */
  readonly parent?: string;
  /** The machine id (`symbol`, `worker`, …), or the kind of non-machine logic (`callback`, `promise`). */
  readonly machine: string;
  /** What the actor runs: a state machine, or callback / promise / observable / transition logic. */
  readonly kind: LogicKind;
  /** The name an invoked actor's logic has among its parent machine's setup actors (`flush`, `socket`). */
  readonly src?: string;
  /** The symbol of a lifecycle actor (`context.symbol`). */
  readonly symbol?: string;
  /** The state value: a string for flat machines, an object for nested ones; null for non-machine logic. */
  readonly state: unknown;
  readonly status: string;
  readonly lastEvent?: string;
  readonly events: number;
  readonly updatedAt: number;
}

/** One event an actor handled, in its own log. */
export interface ActorEvent {
  readonly at: number;
  readonly event: string;
  /** The state after the event, when it changed. */
  readonly state?: unknown;
  readonly status?: string;
}

/** What the actor panel shows of one actor. */
export interface ActorDetails {
  readonly actor: ActorView;
  /** A bounded plain copy of its context (of a promise's or callback's input and output); null if not readable here. */
  readonly context: unknown;
  /** Why there is no context, if there is none. */
  readonly contextNote?: string;
  /** Its last events, oldest first. */
  readonly events: readonly ActorEvent[];
}

export interface RecentEvent {
  readonly seq: number;
  readonly at: number;
  /** ActorView.key and a readable name. */
  readonly actor: string;
  readonly name: string;
  readonly machine: string;
  readonly symbol?: string;
  /** `spawn`, `transition` (state changed), `event` (state unchanged), `status` (stopped, done, error). */
  readonly type: 'spawn' | 'transition' | 'event' | 'status';
  readonly event: string;
  readonly from?: unknown;
  readonly state: unknown;
  readonly status: string;
}

export interface InspectorSnapshot {
  readonly at: number;
  readonly actors: ActorView[];
  readonly recent: RecentEvent[];
  readonly finished: FinishedGroup[];
}

export interface InspectorChange {
  readonly events: readonly RecentEvent[];
  /** Actors changed since the last fan-out (latest view of each). */
  readonly actors: readonly ActorView[];
  /** Finished actors no longer kept (counted in their group). */
  readonly removed: readonly string[];
  /** Groups of finished actors changed since the last fan-out. */
  readonly finished: readonly FinishedGroup[];
  /** Groups forgotten (the least recently used, beyond the most kept). */
  readonly droppedGroups: readonly string[];
}
