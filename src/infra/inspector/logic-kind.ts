/**
 * What kind of XState logic an actor runs, for the inspector to show it as what it is: a state machine has a chart;
 * a callback, promise or observable actor has none, only its events and outcome.
 *
 * XState v5 brands none of its logic creators, so the kind is read from their shape: a machine has a `root` state
 * node; transition logic and observables start with a `context` in their snapshot (observables also hold a
 * `_subscription`); a promise's transition handles `xstate.promise.resolve`, a callback's feeds its receivers.
 */
export type LogicKind = 'machine' | 'callback' | 'promise' | 'observable' | 'transition' | 'logic';

const kinds = new WeakMap<object, LogicKind>();

export function logicKind(logic: unknown): LogicKind {
  if (typeof logic !== 'object' || logic === null) return 'logic';
  let kind = kinds.get(logic);
  if (kind === undefined) {
    kind = readKind(logic as LogicLike);
    kinds.set(logic, kind);
  }
  return kind;
}

interface LogicLike {
  readonly root?: unknown;
  readonly transition?: unknown;
  readonly start?: unknown;
  getInitialSnapshot?(actorScope: unknown, input: unknown): unknown;
}

function readKind(logic: LogicLike): LogicKind {
  if (logic.root !== undefined) return 'machine';
  if (typeof logic.transition !== 'function' || typeof logic.getInitialSnapshot !== 'function') return 'logic';
  // Read from the transition's source: a promise's handles XSTATE_PROMISE_RESOLVE (`xstate.promise.resolve`), a
  // callback's hands events to its `receivers`. (The hub also corrects the kind when a promise event arrives.)
  const source = String(logic.transition);
  if (/PROMISE_RESOLVE|xstate\.promise\./.test(source)) return 'promise';
  if (/receivers/.test(source)) return 'callback';
  let initial: unknown;
  try {
    // Every built-in creator's initial snapshot is a plain object made from the input alone (no side effects).
    initial = logic.getInitialSnapshot(undefined, undefined);
  } catch {
    return 'logic';
  }
  if (typeof initial === 'object' && initial !== null) {
    if ('_subscription' in initial) return 'observable';
    if ('context' in initial) return 'transition';
  }
  return typeof logic.start === 'function' ? 'callback' : 'logic';
}
