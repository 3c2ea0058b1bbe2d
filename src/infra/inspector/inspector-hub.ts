/**
 * The inspector's model, fed by XState's own `inspect` events (no hosted inspector): every actor seen with its
 * machine and current state, a ring buffer of recent changes, the state charts of klagg's machines, and a throttled
 * fan-out of changes to listeners (the SSE clients of inspector-routes.ts).
 *
 * Actors are keyed by object identity, not sessionId: klagg runs several actor systems (the KlaggSystem, the
 * DbWriter, the SymbolManager, each stream connection) and every system numbers its sessions from `x:0`.
 */
import type { AnyActorRef, AnyStateMachine, InspectionEvent } from 'xstate';

export interface GraphTransition {
  /** The event name; delayed transitions read `after <delay>`, eventless ones `always`. */
  readonly event: string;
  /** Target state ids (`symbol.Active`); empty for a targetless transition (actions only, state unchanged). */
  readonly targets: readonly string[];
  readonly guard?: string;
}

export interface GraphState {
  /** Full id, e.g. `streamConnection.live.open`. */
  readonly id: string;
  /** Key within the parent, e.g. `open`. */
  readonly key: string;
  readonly type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** Key of the initial child state (compound states). */
  readonly initial?: string;
  readonly transitions: readonly GraphTransition[];
  /** Invoked actors' ids. */
  readonly invokes: readonly string[];
  readonly states: readonly GraphState[];
}

export interface MachineGraph {
  readonly id: string;
  readonly root: GraphState;
}

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
  /** The symbol of a lifecycle actor (`context.symbol`). */
  readonly symbol?: string;
  /** The state value: a string for flat machines, an object for nested ones; null for non-machine logic. */
  readonly state: unknown;
  readonly status: string;
  readonly lastEvent?: string;
  readonly events: number;
  readonly updatedAt: number;
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

export interface InspectorChange {
  readonly events: readonly RecentEvent[];
  /** Actors changed since the last fan-out (latest view of each). */
  readonly actors: readonly ActorView[];
}

export interface InspectorHubOptions {
  /** The machines whose state charts `graphs()` returns (the composition root passes `src/machines/registry.ts`). */
  readonly machines?: readonly AnyStateMachine[];
  /** Ring buffer size. Default 500. */
  readonly capacity?: number;
  /** Fan-out period in ms (changes are batched). Default 100. 0 fans out synchronously (tests). */
  readonly throttleMs?: number;
  /** Record events that changed no state in the ring buffer for these machines only. Default: the symbol lifecycle. */
  readonly verboseMachines?: readonly string[];
  /**
   * Machines whose state changes are not recorded in the ring buffer (their actors are still followed and fanned
   * out): the gateway cycles waiting ↔ pulling every pull interval and would flush everything else out of it.
   * Default: gateway.
   */
  readonly quietMachines?: readonly string[];
  /** Stopped actors kept in the snapshot. Default 200. */
  readonly keepStopped?: number;
  readonly now?: () => number;
}

type Listener = (change: InspectorChange) => void;

interface MutableActor {
  key: string;
  id: string;
  systemId?: string;
  sessionId: string;
  parent?: string;
  machine: string;
  symbol?: string;
  state: unknown;
  status: string;
  lastEvent?: string;
  events: number;
  updatedAt: number;
}

interface InspectedRef {
  readonly id?: string;
  readonly sessionId?: string;
  readonly systemId?: string;
  readonly src?: unknown;
  readonly _parent?: object;
  readonly logic?: unknown;
  readonly system?: { inspect(observer: (event: InspectionEvent) => void): { unsubscribe(): void } };
  getSnapshot?(): unknown;
}

export class InspectorHub {
  readonly #capacity: number;
  readonly #throttleMs: number;
  readonly #verbose: ReadonlySet<string>;
  readonly #quiet: ReadonlySet<string>;
  readonly #keepStopped: number;
  readonly #now: () => number;
  readonly #keys = new WeakMap<object, string>();
  readonly #actors = new Map<string, MutableActor>();
  readonly #ring: RecentEvent[] = [];
  readonly #listeners = new Set<Listener>();
  #seq = 0;
  #nextKey = 1;
  #pendingEvents: RecentEvent[] = [];
  readonly #pendingActors = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #graphs: MachineGraph[] | undefined;
  readonly #machines: readonly AnyStateMachine[];

  constructor(options: InspectorHubOptions = {}) {
    this.#machines = options.machines ?? [];
    this.#capacity = options.capacity ?? 500;
    this.#throttleMs = options.throttleMs ?? 100;
    this.#verbose = new Set(options.verboseMachines ?? ['symbol']);
    this.#quiet = new Set(options.quietMachines ?? ['gateway']);
    this.#keepStopped = options.keepStopped ?? 200;
    this.#now = options.now ?? Date.now;
  }

  /** Pass as `inspect` to KlaggSystem, StreamManager, or createActor. Cheap: no allocation for most events. */
  readonly inspect = (event: InspectionEvent): void => {
    try {
      if (event.type === '@xstate.actor') this.#seen(event.actorRef as unknown as InspectedRef);
      else if (event.type === '@xstate.snapshot') this.#snapshot(event.actorRef as unknown as InspectedRef, event.snapshot, event.event);
    } catch {
      // The inspector must never break the actor it watches.
    }
  };

  /**
   * Watches an actor that was created without `inspect` (the DbWriter's, the SymbolManager's): records it with its
   * current snapshot and inspects its system from now on. Returns the unsubscribe.
   */
  attach(actor: AnyActorRef): () => void {
    const ref = actor as unknown as InspectedRef;
    this.#seen(ref);
    this.#snapshot(ref, ref.getSnapshot?.(), { type: 'xstate.attach' });
    const subscription = ref.system?.inspect(this.inspect);
    return () => subscription?.unsubscribe();
  }

  /** Current actors and their states. */
  snapshot(): { at: number; actors: ActorView[]; recent: RecentEvent[] } {
    return { at: this.#now(), actors: [...this.#actors.values()].map((a) => ({ ...a })), recent: this.recent() };
  }

  /** The ring buffer, oldest first. */
  recent(): RecentEvent[] {
    return [...this.#ring];
  }

  /** The state charts of klagg's machines. */
  graphs(): MachineGraph[] {
    this.#graphs ??= this.#machines.map(machineGraph);
    return this.#graphs;
  }

  /** Listens to batched changes. Returns the unsubscribe. */
  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }

  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
  }

  #keyOf(ref: object): string {
    let key = this.#keys.get(ref);
    if (key === undefined) {
      key = `a${this.#nextKey++}`;
      this.#keys.set(ref, key);
    }
    return key;
  }

  #seen(ref: InspectedRef): MutableActor {
    const key = this.#keyOf(ref);
    const existing = this.#actors.get(key);
    if (existing) return existing;
    const parentKey = ref._parent ? this.#keys.get(ref._parent) : undefined;
    const machine = logicName(ref.logic ?? ref.src);
    // A root actor created without an id is named by its sessionId (`x:0`): show its machine instead.
    const named = ref.id !== undefined && !(ref.id === ref.sessionId && ref._parent === undefined && machine !== 'logic');
    const actor: MutableActor = {
      key,
      id: named ? ref.id! : machine !== 'logic' ? machine : (ref.sessionId ?? key),
      sessionId: ref.sessionId ?? '',
      machine,
      state: null,
      status: 'active',
      events: 0,
      updatedAt: this.#now(),
    };
    if (ref.systemId !== undefined) actor.systemId = ref.systemId;
    if (parentKey !== undefined) actor.parent = parentKey;
    this.#actors.set(key, actor);
    this.#record(actor, 'spawn', 'xstate.spawn', undefined);
    return actor;
  }

  #snapshot(ref: InspectedRef, snapshot: unknown, cause: { type: string } | undefined): void {
    const actor = this.#actors.get(this.#keys.get(ref) ?? '') ?? this.#seen(ref);
    const snap = snapshot as { value?: unknown; status?: string; context?: { symbol?: unknown } } | undefined;
    const eventType = eventLabel(cause?.type ?? '?');
    // A machine without states (the worker's) has `{}` as its value: no state to show.
    const raw = snap?.value ?? null;
    const value = typeof raw === 'object' && raw !== null && Object.keys(raw).length === 0 ? null : raw;
    // systemId is set on the ref only after its @xstate.actor event.
    if (actor.systemId === undefined && ref.systemId !== undefined) actor.systemId = ref.systemId;
    const status = snap?.status ?? 'active';
    if (actor.symbol === undefined && actor.machine === 'symbol' && typeof snap?.context?.symbol === 'string') actor.symbol = snap.context.symbol;
    actor.events++;
    actor.lastEvent = eventType;
    const from = actor.state;
    const changed = !sameValue(from, value);
    const statusChanged = status !== actor.status;
    actor.state = value;
    actor.status = status;
    actor.updatedAt = this.#now();
    if (changed && !this.#quiet.has(actor.machine)) this.#record(actor, 'transition', eventType, from);
    else if (statusChanged) this.#record(actor, 'status', eventType, from);
    else if (this.#verbose.has(actor.machine)) this.#record(actor, 'event', eventType, from);
    else this.#pendingActors.add(actor.key); // counted, not recorded: the gateway's pulls would flush the ring
    if (statusChanged && status !== 'active') this.#pruneStopped();
    this.#schedule();
  }

  #record(actor: MutableActor, type: RecentEvent['type'], event: string, from: unknown): void {
    const entry: RecentEvent = {
      seq: ++this.#seq,
      at: this.#now(),
      actor: actor.key,
      name: actor.systemId ?? actor.id,
      machine: actor.machine,
      ...(actor.symbol !== undefined ? { symbol: actor.symbol } : {}),
      type,
      event,
      ...(type === 'transition' ? { from } : {}),
      state: actor.state,
      status: actor.status,
    };
    this.#ring.push(entry);
    if (this.#ring.length > this.#capacity) this.#ring.splice(0, this.#ring.length - this.#capacity);
    if (this.#listeners.size > 0) this.#pendingEvents.push(entry);
    this.#pendingActors.add(actor.key);
    this.#schedule();
  }

  #pruneStopped(): void {
    const stopped = [...this.#actors.values()].filter((a) => a.status !== 'active');
    for (const actor of stopped.slice(0, Math.max(0, stopped.length - this.#keepStopped))) this.#actors.delete(actor.key);
  }

  #schedule(): void {
    if (this.#listeners.size === 0) {
      this.#pendingEvents = [];
      this.#pendingActors.clear();
      return;
    }
    if (this.#throttleMs <= 0) return this.#fanOut();
    this.#timer ??= setTimeout(() => this.#fanOut(), this.#throttleMs);
  }

  #fanOut(): void {
    this.#timer = undefined;
    if (this.#pendingEvents.length === 0 && this.#pendingActors.size === 0) return;
    const actors: ActorView[] = [];
    for (const key of this.#pendingActors) {
      const actor = this.#actors.get(key);
      if (actor) actors.push({ ...actor });
    }
    const change: InspectorChange = { events: this.#pendingEvents.slice(-this.#capacity), actors };
    this.#pendingEvents = [];
    this.#pendingActors.clear();
    for (const listener of [...this.#listeners]) {
      try {
        listener(change);
      } catch {
        this.#listeners.delete(listener);
      }
    }
  }
}

function logicName(logic: unknown): string {
  if (typeof logic === 'string') return logic;
  const l = logic as { id?: unknown; root?: unknown; config?: unknown } | undefined;
  if (l && l.root !== undefined && typeof l.id === 'string') return l.id;
  return 'logic';
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

interface StateNodeLike {
  readonly id: string;
  readonly key: string;
  readonly type: GraphState['type'];
  readonly states: Readonly<Record<string, StateNodeLike>>;
  readonly transitions: ReadonlyMap<string, readonly { eventType: string; target?: readonly { id: string }[]; guard?: unknown }[]>;
  readonly always?: readonly { target?: readonly { id: string }[]; guard?: unknown }[];
  readonly initial?: { target: readonly { key: string }[] };
  readonly invoke: readonly { id: string }[];
}

/** A machine's state chart as plain JSON: states (nested), initial states, transitions with their events and targets. */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  return { id: machine.id, root: stateGraph(machine.root as unknown as StateNodeLike) };
}

function stateGraph(node: StateNodeLike): GraphState {
  const transitions: GraphTransition[] = [];
  for (const [eventType, list] of node.transitions) {
    for (const transition of list) transitions.push(edge(eventLabel(eventType), transition));
  }
  for (const transition of node.always ?? []) transitions.push(edge('always', transition));
  const initial = node.type === 'compound' ? node.initial?.target[0]?.key : undefined;
  return {
    id: node.id,
    key: node.key,
    type: node.type,
    ...(initial !== undefined ? { initial } : {}),
    transitions,
    invokes: node.invoke.map((i) => i.id),
    states: Object.values(node.states).map(stateGraph),
  };
}

function edge(event: string, transition: { target?: readonly { id: string }[]; guard?: unknown }): GraphTransition {
  const guard = guardName(transition.guard);
  return { event, targets: (transition.target ?? []).map((t) => t.id), ...(guard !== undefined ? { guard } : {}) };
}

function eventLabel(eventType: string): string {
  // Delayed transitions: `xstate.after.<delay>.<state id>`.
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType);
  return after ? `after ${after[1]}` : eventType;
}

function guardName(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') return (guard as { type: string }).type;
  if (typeof guard === 'function') return guard.name || 'guard';
  return 'guard';
}
