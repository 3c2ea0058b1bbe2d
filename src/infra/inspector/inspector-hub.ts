/**
 * The inspector's model, fed by XState's own `inspect` events (no hosted inspector): every actor seen with its
 * machine and current state, a ring buffer of recent changes, each actor's last events, the state charts of klagg's
 * machines, and a throttled fan-out of changes to listeners (the SSE clients of inspector-routes.ts).
 *
 * Actors are keyed by object identity, not sessionId: klagg runs several actor systems (the KlaggSystem, the
 * DbWriter, the SymbolManager, each stream connection) and every system numbers its sessions from `x:0`.
 *
 * Memory is bounded whatever the uptime: finished actors are counted in groups and only the last few kept
 * (finished-actors.ts), the ring and each actor's event log have fixed sizes.
 */
import type { AnyActorRef, AnyStateMachine, InspectionEvent } from 'xstate';
import { FinishedActors } from './finished-actors.ts';
import type { ActorDetails, ActorEvent, ActorView, InspectorChange, InspectorSnapshot, RecentEvent } from './inspector-views.ts';
import { logicKind, type LogicKind } from './logic-kind.ts';
import { eventLabel, invokeSources, machineGraph, type MachineGraph } from './machine-graph.ts';
import { plainJson } from './plain-json.ts';

export type { FinishedGroup } from './finished-actors.ts';
export type { LogicKind } from './logic-kind.ts';
export type { ActorDetails, ActorEvent, ActorView, InspectorChange, InspectorSnapshot, RecentEvent } from './inspector-views.ts';
export { machineGraph, type GraphInvoke, type GraphState, type GraphTransition, type MachineGraph } from './machine-graph.ts';

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
  /** Finished (done, failed, stopped) actors kept in the snapshot, in all. Default 200. */
  readonly keepStopped?: number;
  /** Finished actors kept per group (same parent, machine and name); the others are only counted. Default 3. */
  readonly keepFinishedPerGroup?: number;
  /** Groups of finished actors kept. Default 200. */
  readonly maxFinishedGroups?: number;
  /** Events kept in each actor's own log. Default 20. */
  readonly actorEvents?: number;
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
  kind: LogicKind;
  src?: string;
  symbol?: string;
  state: unknown;
  status: string;
  lastEvent?: string;
  events: number;
  updatedAt: number;
}

interface Followed {
  readonly view: MutableActor;
  /** The actor itself, read for its context when the panel asks (never kept once the actor is forgotten). */
  readonly ref: InspectedRef;
  readonly log: ActorEvent[];
}

interface InspectedRef {
  readonly id?: string;
  readonly sessionId?: string;
  readonly systemId?: string;
  readonly src?: unknown;
  readonly _parent?: object;
  readonly logic?: unknown;
  /** Set by the worker-thread relay on its stand-ins: the kind the thread read from the real logic. */
  readonly inspectorKind?: LogicKind;
  readonly system?: { inspect(observer: (event: InspectionEvent) => void): { unsubscribe(): void } };
  getSnapshot?(): unknown;
}

export class InspectorHub {
  readonly #capacity: number;
  readonly #throttleMs: number;
  readonly #verbose: ReadonlySet<string>;
  readonly #quiet: ReadonlySet<string>;
  readonly #actorEvents: number;
  readonly #now: () => number;
  readonly #keys = new WeakMap<object, string>();
  readonly #actors = new Map<string, Followed>();
  readonly #finished: FinishedActors;
  readonly #ring: RecentEvent[] = [];
  readonly #listeners = new Set<Listener>();
  #seq = 0;
  #nextKey = 1;
  #pendingEvents: RecentEvent[] = [];
  readonly #pendingActors = new Set<string>();
  readonly #pendingRemoved = new Set<string>();
  readonly #pendingGroups = new Set<string>();
  readonly #pendingDroppedGroups = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #graphs: MachineGraph[] | undefined;
  readonly #machines: readonly AnyStateMachine[];
  /** Invoke id → logic name, so an outcome reads `done: flush` as on the chart. */
  readonly #sources: ReadonlyMap<string, string>;

  constructor(options: InspectorHubOptions = {}) {
    this.#machines = options.machines ?? [];
    this.#sources = invokeSources(this.#machines);
    this.#capacity = options.capacity ?? 500;
    this.#throttleMs = options.throttleMs ?? 100;
    this.#verbose = new Set(options.verboseMachines ?? ['symbol']);
    this.#quiet = new Set(options.quietMachines ?? ['gateway']);
    this.#actorEvents = Math.max(1, options.actorEvents ?? 20);
    this.#finished = new FinishedActors(options.keepFinishedPerGroup ?? 3, options.keepStopped ?? 200, options.maxFinishedGroups ?? 200);
    this.#now = options.now ?? Date.now;
  }

  /** Pass as `inspect` to KlaggSystem, StreamManager, or createActor. Cheap: one small entry in the actor's log. */
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

  /** Current actors and their states, the ring of recent events, and the groups of finished actors. */
  snapshot(): InspectorSnapshot {
    return { at: this.#now(), actors: [...this.#actors.values()].map((a) => ({ ...a.view })), recent: this.recent(), finished: this.#finished.groups() };
  }

  /** The ring buffer, oldest first. */
  recent(): RecentEvent[] {
    return [...this.#ring];
  }

  /** One actor for the actor panel: its view, its context (bounded plain copy) and its last events. */
  details(key: string): ActorDetails | undefined {
    const followed = this.#actors.get(key);
    if (followed === undefined) return undefined;
    const actor = { ...followed.view };
    const events = [...followed.log];
    if (typeof followed.ref.getSnapshot !== 'function') {
      return { actor, context: null, contextNote: 'the actor runs in a worker thread: only its states and events reach the inspector', events };
    }
    const snapshot = followed.ref.getSnapshot() as { context?: unknown; input?: unknown; output?: unknown; error?: unknown } | undefined;
    if (actor.kind === 'machine' || actor.kind === 'transition' || actor.kind === 'observable') return { actor, context: plainJson(snapshot?.context), events };
    return { actor, context: plainJson({ input: snapshot?.input, output: snapshot?.output, error: snapshot?.error }), events };
  }

  /** The state charts of klagg's machines. */
  graphs(): MachineGraph[] {
    this.#graphs ??= this.#machines.map(machineGraph);
    return this.#graphs;
  }

  /** How much the hub holds (for its bounds' tests and /metrics). */
  get size(): { actors: number; finishedKept: number; finishedGroups: number; ring: number } {
    return { actors: this.#actors.size, finishedKept: this.#finished.keptCount, finishedGroups: this.#finished.groupCount, ring: this.#ring.length };
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

  #seen(ref: InspectedRef): Followed {
    const key = this.#keyOf(ref);
    const existing = this.#actors.get(key);
    if (existing) return existing;
    const parentKey = ref._parent ? this.#keys.get(ref._parent) : undefined;
    const logic = ref.logic ?? ref.src;
    const name = logicName(logic);
    const kind = ref.inspectorKind ?? (name !== 'logic' ? 'machine' : logicKind(logic));
    // Non-machine logic is listed by its kind (`callback`, `promise`) where a machine is by its id.
    const machine = name !== 'logic' || kind === 'machine' ? name : kind;
    // A root actor created without an id is named by its sessionId (`x:0`): show its machine instead.
    const named = ref.id !== undefined && !(ref.id === ref.sessionId && ref._parent === undefined && kind === 'machine');
    const actor: MutableActor = {
      key,
      id: named ? ref.id! : kind === 'machine' ? machine : (ref.sessionId ?? key),
      sessionId: ref.sessionId ?? '',
      machine,
      kind,
      state: null,
      status: 'active',
      events: 0,
      updatedAt: this.#now(),
    };
    if (kind !== 'machine' && typeof ref.src === 'string' && !ref.src.startsWith('xstate.invoke.')) actor.src = ref.src;
    if (ref.systemId !== undefined) actor.systemId = ref.systemId;
    if (parentKey !== undefined) actor.parent = parentKey;
    const followed: Followed = { view: actor, ref, log: [] };
    this.#actors.set(key, followed);
    this.#record(actor, 'spawn', 'xstate.spawn', undefined);
    return followed;
  }

  #snapshot(ref: InspectedRef, snapshot: unknown, cause: { type: string } | undefined): void {
    const known = this.#actors.get(this.#keys.get(ref) ?? '');
    // An actor already forgotten (finished, beyond the kept) that still reports is not followed again.
    if (known === undefined && this.#keys.has(ref)) return;
    const followed = known ?? this.#seen(ref);
    const actor = followed.view;
    const snap = snapshot as { value?: unknown; status?: string; context?: { symbol?: unknown } } | undefined;
    const eventType = eventLabel(cause?.type ?? '?', this.#sources);
    // A machine without states (the worker's) has `{}` as its value: no state to show.
    const raw = snap?.value ?? null;
    const value = typeof raw === 'object' && raw !== null && Object.keys(raw).length === 0 ? null : raw;
    // systemId is set on the ref only after its @xstate.actor event.
    if (actor.systemId === undefined && ref.systemId !== undefined) actor.systemId = ref.systemId;
    const status = snap?.status ?? 'active';
    if (actor.symbol === undefined && actor.machine === 'symbol' && typeof snap?.context?.symbol === 'string') actor.symbol = snap.context.symbol;
    actor.events++;
    actor.lastEvent = eventType;
    if (eventType.startsWith('xstate.promise.') && actor.kind !== 'promise') actor.kind = actor.machine = 'promise';
    const from = actor.state;
    const changed = !sameValue(from, value);
    const wasActive = actor.status === 'active';
    const statusChanged = status !== actor.status;
    actor.state = value;
    actor.status = status;
    actor.updatedAt = this.#now();
    const entry: ActorEvent = { at: actor.updatedAt, event: eventType, ...(changed ? { state: value } : {}), ...(statusChanged ? { status } : {}) };
    followed.log.push(entry);
    if (followed.log.length > this.#actorEvents) followed.log.shift();
    if (changed && !this.#quiet.has(actor.machine)) this.#record(actor, 'transition', eventType, from);
    else if (statusChanged) this.#record(actor, 'status', eventType, from);
    else if (this.#verbose.has(actor.machine)) this.#record(actor, 'event', eventType, from);
    else this.#pendingActors.add(actor.key); // counted, not recorded: the gateway's pulls would flush the ring
    if (wasActive && status !== 'active') this.#finish(actor);
    this.#schedule();
  }

  #finish(actor: MutableActor): void {
    // Invoked logic is named by its src (`flush`); else by its id without a worker thread's prefix or an invoke index.
    const name = actor.kind === 'machine' ? actor.machine : (actor.src ?? actor.id.split('/').at(-1)!.replace(/^\d+\./, ''));
    const { group, forgotten, droppedGroups } = this.#finished.add({ key: actor.key, machine: actor.machine, kind: actor.kind, name, status: actor.status, ...(actor.parent !== undefined ? { parent: actor.parent } : {}) }, this.#now());
    for (const key of forgotten) {
      // The WeakMap keeps the key of the forgotten ref: a late snapshot of it is then ignored, not re-added.
      this.#actors.delete(key);
      this.#pendingActors.delete(key);
      this.#pendingRemoved.add(key);
    }
    this.#pendingGroups.add(group);
    for (const dropped of droppedGroups) {
      this.#pendingGroups.delete(dropped);
      this.#pendingDroppedGroups.add(dropped);
    }
  }

  #record(actor: MutableActor, type: RecentEvent['type'], event: string, from: unknown): void {
    const entry: RecentEvent = {
      seq: ++this.#seq,
      at: this.#now(),
      actor: actor.key,
      name: actor.systemId ?? actor.src ?? actor.id,
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

  #schedule(): void {
    if (this.#listeners.size === 0) {
      this.#pendingEvents = [];
      this.#pendingActors.clear();
      this.#pendingRemoved.clear();
      this.#pendingGroups.clear();
      this.#pendingDroppedGroups.clear();
      return;
    }
    if (this.#throttleMs <= 0) return this.#fanOut();
    this.#timer ??= setTimeout(() => this.#fanOut(), this.#throttleMs);
  }

  #fanOut(): void {
    this.#timer = undefined;
    if (this.#pendingEvents.length === 0 && this.#pendingActors.size === 0 && this.#pendingRemoved.size === 0 && this.#pendingGroups.size === 0) return;
    const actors: ActorView[] = [];
    for (const key of this.#pendingActors) {
      const followed = this.#actors.get(key);
      if (followed) actors.push({ ...followed.view });
    }
    const finished = [...this.#pendingGroups].map((key) => this.#finished.group(key)).filter((g) => g !== undefined);
    const change: InspectorChange = { events: this.#pendingEvents.slice(-this.#capacity), actors, removed: [...this.#pendingRemoved], finished, droppedGroups: [...this.#pendingDroppedGroups] };
    this.#pendingEvents = [];
    this.#pendingActors.clear();
    this.#pendingRemoved.clear();
    this.#pendingGroups.clear();
    this.#pendingDroppedGroups.clear();
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
