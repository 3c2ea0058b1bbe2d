/**
 * A machine's state chart as plain JSON, for the inspector page to lay out and draw: nested states with their types
 * and initial states, and every transition with its event, guard, delay and targets.
 *
 * Read from `machine.root` (XState v5's StateNode tree). XState's own serializable form (`machine.definition`, what
 * `toJSON()` returns) is not plain: its transitions and initial transition carry their source StateNode (a cycle), and
 * its actions and guards may be functions. So the shape below is made from it, keeping what a chart shows.
 */
import type { AnyStateMachine } from 'xstate';

export interface GraphTransition {
  /**
   * What a reader sees on the arrow: the event name; `after <delay>` for a delayed transition, `always` for an
   * eventless one, `done: <src>` / `error: <src>` for the outcome of an invoked actor.
   */
  readonly event: string;
  readonly kind: 'event' | 'after' | 'always' | 'done' | 'error';
  /** Target state ids (`symbol.Active`); empty for a targetless transition (actions only, state unchanged). */
  readonly targets: readonly string[];
  /** The guard's name; composite guards read `a && b`, `a || b`, `!a`. */
  readonly guard?: string;
  /** A delayed transition's delay: the name of a configured delay, or milliseconds. */
  readonly delay?: string | number;
  /** The target is exited and entered again even if it is the source or one of its descendants. */
  readonly reenter?: true;
  /** Named actions run by the transition (inline ones read `inline`). */
  readonly actions?: readonly string[];
}

export interface GraphInvoke {
  readonly id: string;
  /** The logic's name among the machine's setup actors, when it is referenced by name. */
  readonly src?: string;
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
  readonly invoked?: readonly GraphInvoke[];
  readonly tags?: readonly string[];
  readonly description?: string;
  readonly states: readonly GraphState[];
}

export interface MachineGraph {
  readonly id: string;
  /** No child states: the machine only reacts to events (klagg's worker and activation dispatcher are such). */
  readonly stateless: boolean;
  readonly root: GraphState;
}

interface TransitionLike {
  readonly eventType: string;
  readonly target?: readonly { id: string }[];
  readonly guard?: unknown;
  readonly reenter?: boolean;
  readonly actions?: readonly unknown[];
}

interface StateNodeLike {
  readonly id: string;
  readonly key: string;
  readonly type: GraphState['type'];
  readonly states: Readonly<Record<string, StateNodeLike>>;
  readonly transitions: ReadonlyMap<string, readonly TransitionLike[]>;
  readonly always?: readonly TransitionLike[];
  readonly initial?: { target: readonly { key: string }[] };
  readonly invoke: readonly { id: string; src?: unknown }[];
  readonly tags?: readonly string[];
  readonly description?: string;
}

/** A machine's state chart as plain JSON: states (nested), initial states, transitions with their events and targets. */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const root = machine.root as unknown as StateNodeLike;
  const sources = new Map<string, string>();
  collectInvokes(root, sources);
  return { id: machine.id, stateless: Object.keys(root.states).length === 0, root: stateGraph(root, sources) };
}

function collectInvokes(node: StateNodeLike, into: Map<string, string>): void {
  for (const invoke of node.invoke) into.set(invoke.id, typeof invoke.src === 'string' && !invoke.src.startsWith('xstate.invoke.') ? invoke.src : invoke.id);
  for (const child of Object.values(node.states)) collectInvokes(child, into);
}

function stateGraph(node: StateNodeLike, sources: ReadonlyMap<string, string>): GraphState {
  const transitions: GraphTransition[] = [];
  for (const [eventType, list] of node.transitions) {
    for (const transition of list) transitions.push(edge(eventType, transition, sources));
  }
  for (const transition of node.always ?? []) transitions.push(edge('', transition, sources));
  const initial = node.type === 'compound' ? node.initial?.target[0]?.key : undefined;
  const invoked = node.invoke.map((i) => {
    const src = sources.get(i.id);
    return src !== undefined && src !== i.id ? { id: i.id, src } : { id: i.id };
  });
  return {
    id: node.id,
    key: node.key,
    type: node.type,
    ...(initial !== undefined ? { initial } : {}),
    transitions,
    invokes: node.invoke.map((i) => i.id),
    ...(invoked.length > 0 ? { invoked } : {}),
    ...(node.tags !== undefined && node.tags.length > 0 ? { tags: [...node.tags] } : {}),
    ...(typeof node.description === 'string' ? { description: node.description } : {}),
    states: Object.values(node.states).map((child) => stateGraph(child, sources)),
  };
}

function edge(eventType: string, transition: TransitionLike, sources: ReadonlyMap<string, string>): GraphTransition {
  const guard = guardName(transition.guard);
  const actions = (transition.actions ?? []).map(actionName);
  return {
    ...describeEvent(eventType, sources),
    targets: (transition.target ?? []).map((t) => t.id),
    ...(guard !== undefined ? { guard } : {}),
    ...(transition.reenter === true ? { reenter: true as const } : {}),
    ...(actions.length > 0 ? { actions } : {}),
  };
}

function describeEvent(eventType: string, sources: ReadonlyMap<string, string>): Pick<GraphTransition, 'event' | 'kind' | 'delay'> {
  if (eventType === '') return { event: 'always', kind: 'always' };
  // Delayed transitions: `xstate.after.<delay>.<state id>`.
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType);
  if (after) {
    const delay = /^\d+$/.test(after[1]!) ? Number(after[1]) : after[1]!;
    return { event: `after ${typeof delay === 'number' ? formatMs(delay) : delay}`, kind: 'after', delay };
  }
  const outcome = /^xstate\.(done|error)\.actor\.(.+)$/.exec(eventType);
  if (outcome) return { event: `${outcome[1]}: ${sources.get(outcome[2]!) ?? outcome[2]}`, kind: outcome[1] as 'done' | 'error' };
  return { event: eventType, kind: 'event' };
}

/**
 * A label for an event type as the inspector shows it, the same as on the chart's arrows: delayed transitions read
 * `after <delay>`, an invoked actor's outcome `done: <src>` (`sources` from invokeSources()).
 */
export function eventLabel(eventType: string, sources: ReadonlyMap<string, string> = new Map()): string {
  return describeEvent(eventType, sources).event;
}

/** Invoke id → the invoked logic's name, for every state of these machines. */
export function invokeSources(machines: readonly AnyStateMachine[]): Map<string, string> {
  const sources = new Map<string, string>();
  for (const machine of machines) collectInvokes(machine.root as unknown as StateNodeLike, sources);
  return sources;
}

function formatMs(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function guardName(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    // XState's and() / or() / not() are functions of those names holding the guards they combine.
    const parts = (guard as { guards?: unknown[] }).guards;
    if (Array.isArray(parts)) {
      const names = parts.map((part) => guardName(part) ?? 'guard');
      if (guard.name === 'not') return `!${names[0]}`;
      return names.map((name) => (name.includes(' ') ? `(${name})` : name)).join(guard.name === 'or' ? ' || ' : ' && ');
    }
    return guard.name || 'guard';
  }
  if (typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') return (guard as { type: string }).type;
  return 'guard';
}

function actionName(action: unknown): string {
  if (typeof action === 'string') return action;
  if (typeof action === 'object' && action !== null && typeof (action as { type?: unknown }).type === 'string') return (action as { type: string }).type;
  // XState's built-in action creators (assign, sendTo, enqueueActions, …) are functions with a `type` of their own.
  if (typeof action === 'function') {
    const type = (action as { type?: unknown }).type;
    return typeof type === 'string' ? type : 'inline';
  }
  return 'inline';
}
